"""omnihub voice channel over Twilio Programmable Voice."""
