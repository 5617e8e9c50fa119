"""Entry point: python -m omnihub.quality."""

from omnihub.quality.app import run

run()
