"""Entry point: python -m omnihub.sms."""

from omnihub.sms.app import run

run()
