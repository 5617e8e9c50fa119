"""omnihub SMS channel over Twilio Programmable Messaging."""
