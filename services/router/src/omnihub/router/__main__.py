"""Entry point: python -m omnihub.router."""

from omnihub.router.app import run

run()
