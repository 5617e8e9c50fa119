"""Entry point: python -m omnihub.email."""

from omnihub.email.app import run

run()
