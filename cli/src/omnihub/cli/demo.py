"""The `make run` demo: a gentle stream of simulated customers on every channel, so the inbox comes alive."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import secrets
import smtplib
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import aiohttp
from twilio.request_validator import RequestValidator

from omnihub.testkit.fakes import wechat_api

CUSTOMERS = [("王芳", "+8613800138001", "wang.fang@example.cn"), ("Maria Garcia", "+15555550101", "maria@example.com"),
             ("李伟", "+8613900139002", "li.wei@example.cn"), ("Tom Baker", "+447700900123", "tom@example.co.uk")]
QUESTIONS = ["我的订单什么时候发货？", "Where is my parcel? It was due yesterday.", "我想申请退款。",
             "Can I change the delivery address for order 1234?", "发票怎么开？", "Do you have this in size M?"]
SUBJECTS = ["订单问题", "Refund request", "Delivery address", "Question about my invoice"]


TASKS: set[asyncio.Task[None]] = set()
UPDATE_IDS = itertools.count(int.from_bytes(secrets.token_bytes(3), "big"))


async def _signed_post(session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> int:
    signature = RequestValidator(os.environ.get("OMNIHUB_TWILIO_AUTH_TOKEN", "")).compute_signature(url, params)
    async with session.post(url, data=params, headers={"X-Twilio-Signature": signature}) as resp:
        return resp.status


async def sms(session: aiohttp.ClientSession, base: str, name: str, phone: str) -> None:
    """A signed Twilio inbound-SMS webhook, exactly as Twilio would send it."""
    params = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": os.environ.get("OMNIHUB_TWILIO_ACCOUNT_SID", ""),
              "From": phone, "To": "+15550000000", "Body": random.choice(QUESTIONS), "NumMedia": "0"}
    print(f"demo: SMS from {name} -> {await _signed_post(session, f'{base}/twilio/sms', params)}", flush=True)


async def whatsapp(session: aiohttp.ClientSession, base: str, name: str, phone: str) -> None:
    """A signed Twilio inbound WhatsApp webhook (whatsapp:+E.164 addresses)."""
    params = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": os.environ.get("OMNIHUB_TWILIO_ACCOUNT_SID", ""),
              "From": f"whatsapp:{phone}", "To": "whatsapp:+15550000000", "Body": random.choice(QUESTIONS),
              "NumMedia": "0", "ProfileName": name}
    print(f"demo: WhatsApp from {name} -> {await _signed_post(session, f'{base}/twilio/whatsapp', params)}", flush=True)


async def wechat(session: aiohttp.ClientSession, base: str, name: str) -> None:
    """A message to the Official Account, signed and AES-encrypted as WeChat sends it (safe mode)."""
    api = wechat_api.FakeWeChatApi(app_id=os.environ.get("OMNIHUB_WECHAT_APP_ID", ""),
                             callback_token=os.environ.get("OMNIHUB_WECHAT_TOKEN", ""),
                             encoding_aes_key=os.environ.get("OMNIHUB_WECHAT_ENCODING_AES_KEY", ""))
    openid = "oDemo" + "".join(f"{ord(c):x}" for c in name)[:20]
    xml = wechat_api.message_xml("text", openid, msg_id=next(UPDATE_IDS), Content=random.choice(QUESTIONS))
    cb = api.sign(xml, safe=bool(api.encoding_aes_key))
    async with session.post(f"{base}/wechat/callback", params=cb.params, data=cb.body) as resp:
        print(f"demo: WeChat from {name} -> {resp.status}", flush=True)


async def call(session: aiohttp.ClientSession, base: str, name: str, phone: str) -> None:
    """An incoming call: Twilio's voice webhook, then the caller presses 2 for support and waits."""
    form = {"CallSid": "CA" + secrets.token_hex(16), "AccountSid": os.environ.get("OMNIHUB_TWILIO_ACCOUNT_SID", ""),
            "From": phone, "To": "+15550000000", "CallStatus": "ringing", "Direction": "inbound"}
    await _signed_post(session, f"{base}/twilio/voice", form)
    status = await _signed_post(session, f"{base}/twilio/voice/gather", form | {"Digits": "2", "CallStatus": "in-progress"})
    print(f"demo: call from {name} queued -> {status}", flush=True)


async def chat(session: aiohttp.ClientSession, base: str, name: str) -> None:
    """A web-chat visitor who stays on the page for ten minutes and prints the agent's answers."""
    async with session.ws_connect(base.replace("http", "ws", 1) + "/ws/chat") as ws:
        await ws.send_json({"type": "hello", "name": name, "topic": "support"})
        await ws.receive_json(timeout=10)
        await ws.send_json({"type": "message", "client_id": secrets.token_hex(8), "text": random.choice(QUESTIONS)})
        print(f"demo: web chat from {name}", flush=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(600):
                async for msg in ws:
                    frame = msg.json() if msg.type == aiohttp.WSMsgType.TEXT else {}
                    if frame.get("type") == "msg" and frame.get("sender") == "agent":
                        print(f"demo: {name} got a chat reply: {frame.get('text', '')[:80]}", flush=True)


async def telegram(session: aiohttp.ClientSession, base: str, name: str) -> None:
    """A Telegram update for the bot's webhook, with the secret token Telegram sends."""
    user = 700_000 + sum(map(ord, name))
    update = {"update_id": next(UPDATE_IDS), "message": {
        "message_id": next(UPDATE_IDS), "date": 1_700_000_000, "text": random.choice(QUESTIONS),
        "chat": {"id": user, "type": "private", "first_name": name}, "from": {"id": user, "is_bot": False,
                                                                                  "first_name": name}}}
    headers = {"X-Telegram-Bot-Api-Secret-Token": os.environ.get("OMNIHUB_TELEGRAM_WEBHOOK_SECRET", "")}
    async with session.post(f"{base}/telegram/webhook", json=update, headers=headers) as resp:
        print(f"demo: Telegram from {name} -> {resp.status}", flush=True)


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
    voice_base = os.environ.get("OMNIHUB_DEMO_VOICE_URL", "http://127.0.0.1:8082")
    chat_base = os.environ.get("OMNIHUB_DEMO_CHAT_URL", "http://127.0.0.1:8081")
    smtp_port = int(os.environ.get("OMNIHUB_DEMO_SMTP_PORT", "2525"))
    await asyncio.sleep(10)  # let the services start
    async with aiohttp.ClientSession() as session:
        while True:
            name, phone, address = random.choice(CUSTOMERS)
            kind = random.choices(["sms", "email", "voice", "chat", "telegram", "whatsapp", "wechat"],
                                  [3, 2, 2, 2, 1, 2, 2])[0]
            try:
                if kind == "sms":
                    await sms(session, sms_base, name, phone)
                elif kind == "voice":
                    await call(session, voice_base, name, phone)
                elif kind == "chat":
                    task = asyncio.create_task(chat(session, chat_base, name))
                    TASKS.add(task)
                    task.add_done_callback(TASKS.discard)
                elif kind == "telegram":
                    await telegram(session, chat_base, name)
                elif kind == "whatsapp":
                    await whatsapp(session, sms_base, name, phone)
                elif kind == "wechat":
                    await wechat(session, chat_base, name)
                else:
                    await asyncio.to_thread(email, smtp_port, name, address)
            except (aiohttp.ClientError, OSError) as exc:
                print(f"demo: {kind} not reachable yet ({exc!r})", flush=True)
            await asyncio.sleep(random.expovariate(rate / 60))


if __name__ == "__main__":
    asyncio.run(main())
