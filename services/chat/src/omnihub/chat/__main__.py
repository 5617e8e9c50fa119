"""Entry point: python -m omnihub.chat."""

from omnihub.chat.app import run

run()
