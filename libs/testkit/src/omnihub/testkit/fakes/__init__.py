"""Local HTTP doubles of the providers omnihub talks to (Twilio, Telegram, WeChat), for tests, `omnihub simulate` and `make run`."""
