"""The `make run` demo: a gentle stream of simulated customers on SMS and email, so the inbox comes alive."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import smtplib
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import aiohttp
from twilio.request_validator import RequestValidator

CUSTOMERS = [("王芳", "+8613800138001", "wang.fang@example.cn"), ("Maria Garcia", "+15555550101", "maria@example.com"),
             ("李伟", "+8613900139002", "li.wei@example.cn"), ("Tom Baker", "+447700900123", "tom@example.co.uk")]
QUESTIONS = ["我的订单什么时候发货？", "Where is my parcel? It was due yesterday.", "我想申请退款。",
             "Can I change the delivery address for order 1234?", "发票怎么开？", "Do you have this in size M?"]
SUBJECTS = ["订单问题", "Refund request", "Delivery address", "Question about my invoice"]


async def sms(session: aiohttp.ClientSession, base: str, token: str, name: str, phone: str) -> None:
    """A signed Twilio inbound-SMS webhook, exactly as Twilio would send it."""
    params = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": os.environ.get("OMNIHUB_TWILIO_ACCOUNT_SID", ""),
              "From": phone, "To": "+15550000000", "Body": random.choice(QUESTIONS), "NumMedia": "0"}
    url = f"{base}/twilio/sms"
    signature = RequestValidator(token).compute_signature(url, params)
    async with session.post(url, data=params, headers={"X-Twilio-Signature": signature}) as resp:
        print(f"demo: SMS from {name} -> {resp.status}", flush=True)


def email(port: int, name: str, address: str) -> None:
    """A plain SMTP delivery to the email service."""
    msg = EmailMessage()
    msg["From"] = formataddr((name, address), charset="utf-8")
    msg["To"] = "support@example.com"
    msg["Subject"] = random.choice(SUBJECTS)
    msg["Message-ID"] = make_msgid(domain="demo.example")
    msg.set_content(random.choice(QUESTIONS))
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(msg)
    print(f"demo: email from {name}", flush=True)


async def main() -> None:
    """A few contacts a minute until stopped; OMNIHUB_DEMO=0 turns `make run`'s demo off."""
    rate = float(os.environ.get("OMNIHUB_DEMO_PER_MINUTE", "3"))
    sms_base = os.environ.get("OMNIHUB_DEMO_SMS_URL", "http://127.0.0.1:8083")
    smtp_port = int(os.environ.get("OMNIHUB_DEMO_SMTP_PORT", "2525"))
    token = os.environ.get("OMNIHUB_TWILIO_AUTH_TOKEN", "")
    await asyncio.sleep(10)  # let the services start
    async with aiohttp.ClientSession() as session:
        while True:
            name, phone, address = random.choice(CUSTOMERS)
            try:
                if random.random() < 0.6 and token:
                    await sms(session, sms_base, token, name, phone)
                else:
                    await asyncio.to_thread(email, smtp_port, name, address)
            except (aiohttp.ClientError, OSError) as exc:
                print(f"demo: channel not reachable yet ({exc!r})", flush=True)
            await asyncio.sleep(random.expovariate(rate / 60))


if __name__ == "__main__":
    asyncio.run(main())
