"""SMS settings (OMNIHUB_SMS_*, OMNIHUB_TWILIO_*)."""

from __future__ import annotations

from pydantic import SecretStr

from omnihub.common.config import ServiceSettings


class SmsSettings(ServiceSettings):
    """Everything the SMS service reads from the environment."""

    sms_http_port: int = 8083
    sms_public_base_url: str = "http://127.0.0.1:8083"  # what Twilio calls; signatures cover it
    sms_from_number: str = "+15550000000"
    sms_max_body: int = 1600
    twilio_account_sid: str
    twilio_auth_token: SecretStr
    whatsapp_from: str = ""  # our WhatsApp sender, "whatsapp:+E.164"; empty = whatsapp:<SMS_FROM_NUMBER>
    twilio_api_base_url: str = ""  # empty = https://api.twilio.com; tests point it at the fake
