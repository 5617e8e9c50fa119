"""Entry point: python -m omnihub.voice."""

from omnihub.voice.app import run

run()
