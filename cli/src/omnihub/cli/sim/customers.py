"""Synthetic customers: each arrives through a channel's real public entry point and may lose patience."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiohttp
import aiosmtplib

from omnihub.cli.sim.hub import OFFICIAL_ACCOUNT, Hub, mailbox, sms_number
from omnihub.cli.sim.model import Customer, Tally
from omnihub.testkit.fakes.wechat_api import message_xml


@dataclass
class Presence:
    """Where a waiting customer stands: answered, gone, and the identity the hub knows them by."""

    customer: Customer
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)  # the agent finished with them
    gone: bool = False
    call_sid: str = ""


class Customers:
    """Drives customers into the hub and keeps the identity -> customer map the agents look up."""

    def __init__(self, hub: Hub, http: aiohttp.ClientSession, tally: Tally, speed: float) -> None:
        self.hub = hub
        self.http = http
        self.tally = tally
        self.speed = speed
        self.by_identity: dict[tuple[str, str], Presence] = {}
        self.queue_index = {q.name: i for i, q in enumerate(hub.sc.queues)}

    def lookup(self, channel: str, source_id: str) -> Presence | None:
        """The customer behind a conversation's identity."""
        return self.by_identity.get((channel, source_id.lower()))

    def _register(self, channel: str, source_id: str, customer: Customer) -> Presence:
        presence = Presence(customer)
        self.by_identity[(channel, source_id.lower())] = presence
        return presence

    async def arrive(self, c: Customer) -> None:
        """One customer's whole visit on their channel."""
        channel = c.stream.channel
        self.tally.sent[c.key] = 0
        handler = {"sms": self._sms, "voice": self._voice, "email": self._email, "webchat": self._webchat,
                   "telegram": self._telegram, "whatsapp": self._whatsapp, "wechat": self._wechat}[channel]
        await handler(c)

    async def _twilio_post(self, service: str, path: str, params: dict[str, str]) -> int:
        url = f"{self.hub.url(service)}{path}"
        signature = self.hub.twilio.sign(url, params)
        async with self.http.post(url, data=params, headers={"X-Twilio-Signature": signature}) as resp:
            await resp.read()
            return resp.status

    async def _sms(self, c: Customer) -> None:
        phone = f"+1666{c.index:07d}"
        self._register("sms", phone, c)
        params = self.hub.twilio.inbound_sms(sms_number(self.queue_index[c.stream.queue]), phone,
                                             f"Hello, I need help with my order. (ref {c.key})", sid=f"SM{c.index:032d}")
        params["AccountSid"] = self.hub.twilio.account_sid
        if await self._twilio_post("sms", "/twilio/sms", params) == 200:
            self.tally.sent[c.key] += 1

    async def _whatsapp(self, c: Customer) -> None:
        address = f"whatsapp:+1888{c.index:07d}"
        self._register("whatsapp", address, c)
        params = self.hub.twilio.inbound_sms("whatsapp:" + sms_number(self.queue_index[c.stream.queue]), address,
                                             f"Hello, I need help with my order. (ref {c.key})", sid=f"SM{c.index:032d}")
        params["AccountSid"] = self.hub.twilio.account_sid
        if await self._twilio_post("sms", "/twilio/whatsapp", params) == 200:
            self.tally.sent[c.key] += 1

    async def _wechat(self, c: Customer) -> None:
        openid = f"oSim{c.index:012d}"
        self._register("wechat", openid, c)
        xml = message_xml(
            "text", openid, to_user=OFFICIAL_ACCOUNT, msg_id=c.index + 1, Content=f"你好，我的订单呢？(ref {c.key})")
        cb = self.hub.wechat.sign(xml, safe=True)  # signed and AES-encrypted as WeChat sends it
        async with self.http.post(f"{self.hub.url('chat')}/wechat/callback", params=cb.params, data=cb.body) as resp:
            if resp.status == 200:
                self.tally.sent[c.key] += 1

    async def _email(self, c: Customer) -> None:
        address = f"{c.key}@customers.example"
        self._register("email", address, c)
        msg = EmailMessage()
        msg["From"], msg["To"] = address, mailbox(c.stream.queue)
        msg["Subject"] = f"Question {c.index}"
        msg["Message-ID"] = make_msgid(domain="customers.example")
        msg.set_content(f"Hello, I need help with my order. (ref {c.key})")
        await aiosmtplib.send(msg, hostname="127.0.0.1", port=self.hub.ports["email_smtp"], timeout=30)
        self.tally.sent[c.key] += 1

    async def _telegram(self, c: Customer) -> None:
        user = 10_000_000 + c.index
        self._register("telegram", str(user), c)
        update = {"update_id": c.index + 1, "message": {
            "message_id": c.index + 1, "date": 1_700_000_000, "text": f"Hi, where is my parcel? (ref {c.key})",
            "chat": {"id": user, "type": "private", "first_name": f"Customer{c.index}"},
            "from": {"id": user, "is_bot": False, "first_name": f"Customer{c.index}"}}}
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.hub.webhook_secret}
        async with self.http.post(f"{self.hub.url('chat')}/telegram/webhook", json=update, headers=headers) as resp:
            if resp.status == 200:
                self.tally.sent[c.key] += 1

    async def _wait_or_leave(self, p: Presence) -> bool:
        """True when answered within the customer's patience; False when they left first."""
        patience = p.customer.patience / self.speed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(p.answered.wait(), None if math.isinf(patience) else patience)
        if p.answered.is_set():
            return True
        p.gone = True
        self.tally.abandoned.add(p.customer.key)
        return False

    async def _voice(self, c: Customer) -> None:
        caller, sid = f"+1777{c.index:07d}", f"CA{c.index:032d}"
        p = self._register("voice", caller, c)
        p.call_sid = sid
        called = sms_number(self.queue_index[c.stream.queue])
        form = {"CallSid": sid, "AccountSid": self.hub.twilio.account_sid, "From": caller, "To": called,
                "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}
        await self._twilio_post("voice", "/twilio/voice", form)
        if await self._twilio_post("voice", "/twilio/voice/gather", form | {"CallStatus": "in-progress"}) == 200:
            self.tally.sent[c.key] += 1
        if not await self._wait_or_leave(p):
            await self.hang_up(p)

    async def hang_up(self, p: Presence) -> None:
        """The caller hangs up: Twilio's status callback for the finished call."""
        form = {"CallSid": p.call_sid, "AccountSid": self.hub.twilio.account_sid, "CallStatus": "completed",
                "From": f"+1777{p.customer.index:07d}", "ApiVersion": "2010-04-01"}
        await self._twilio_post("voice", "/twilio/voice/status", form)

    async def _webchat(self, c: Customer) -> None:
        async with self.http.ws_connect(f"{self.hub.url('chat')}/ws/chat") as ws:
            await ws.send_json({"type": "hello", "name": f"Visitor {c.index}", "topic": c.stream.queue})
            welcome = await ws.receive_json(timeout=30)
            p = self._register("webchat", str(welcome["visitor_id"]), c)
            echoed = asyncio.Event()
            reader = asyncio.create_task(self._read_chat(ws, p, echoed))
            await ws.send_json({"type": "message", "client_id": "m1", "text": f"Hi, can you help me? (ref {c.key})"})
            try:
                if not await self._wait_or_leave(p):
                    # the server's echo is what counts the message as sent: a visitor who leaves before it came
                    # (a busy machine) was counted as sending nothing while the message was stored
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(echoed.wait(), timeout=30)
                    await ws.send_json({"type": "close"})
                    await asyncio.sleep(0.2)
                    return
                await asyncio.wait_for(p.done.wait(), timeout=600)
            finally:
                reader.cancel()

    async def _read_chat(self, ws: aiohttp.ClientWebSocketResponse, p: Presence, echoed: asyncio.Event) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                return
            frame: dict[str, Any] = json.loads(msg.data)
            if frame.get("type") == "msg" and frame.get("sender") == "visitor":
                self.tally.sent[p.customer.key] += 1
                echoed.set()
            elif frame.get("type") == "msg" and frame.get("sender") == "agent":
                self.tally.replies_seen.add(p.customer.key)
