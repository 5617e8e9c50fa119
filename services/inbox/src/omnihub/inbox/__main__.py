"""Entry point: python -m omnihub.inbox."""

from omnihub.inbox.app import run

run()
