"""omnihub chat: the website chat widget and the Telegram bot."""
