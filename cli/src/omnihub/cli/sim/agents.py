"""Synthetic agents: log in to the router and the inbox, accept offers, reply through the inbox, wrap up."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import grpc

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.cli.sim.customers import Customers, Presence
from omnihub.cli.sim.hub import PASSWORD, Hub
from omnihub.cli.sim.model import AgentGroup, Scenario, Tally, proficiency_factor

CHANNEL_NAMES = {contact_pb2.CHANNEL_SMS: "sms", contact_pb2.CHANNEL_VOICE: "voice", contact_pb2.CHANNEL_EMAIL: "email",
                 contact_pb2.CHANNEL_WEBCHAT: "webchat", contact_pb2.CHANNEL_TELEGRAM: "telegram",
                 contact_pb2.CHANNEL_WHATSAPP: "whatsapp", contact_pb2.CHANNEL_WECHAT: "wechat"}


class Agent:
    """One synthetic agent: a router session for offers and an inbox session for replies."""

    def __init__(self, agent_id: str, group: AgentGroup, sc: Scenario, hub: Hub, router: routing_pb2_grpc.RouterAsyncStub,
                 customers: Customers, tally: Tally) -> None:
        self.id = agent_id
        self.skills = dict(group.skills)
        self.sc = sc
        self.hub = hub
        self.router = router
        self.customers = customers
        self.tally = tally
        self.busy_seconds = 0.0
        self.errors: list[str] = []
        self.http: aiohttp.ClientSession | None = None
        self.csrf = ""

    async def log_in(self) -> None:
        """Inbox login (session cookie and CSRF token), then available in the router."""
        self.http = aiohttp.ClientSession(base_url=self.hub.url("inbox"), cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with self.http.post("/api/login", json={"username": self.id, "password": PASSWORD}) as resp:
            resp.raise_for_status()
            self.csrf = (await resp.json())["csrf"]
        await self.router.Login(routing_pb2.LoginRequest(agent_id=self.id))

    async def run(self) -> None:
        """Take offers one at a time until cancelled."""
        async for notice in self.router.WatchOffers(routing_pb2.WatchOffersRequest(agent_id=self.id)):
            if notice.WhichOneof("kind") == "offer":
                try:
                    await self.handle(notice.offer)
                except (grpc.aio.AioRpcError, aiohttp.ClientError) as exc:
                    self.errors.append(f"{self.id}: {exc!r}"[:300])

    def level(self, queue_name: str) -> int:
        """This agent's level in the queue's skill (5 where the queue needs none)."""
        queue = next(q for q in self.sc.queues if q.name == queue_name)
        return self.skills.get(queue.skill, 5) if queue.skill else 5

    def handle_seconds(self, p: Presence) -> float:
        """The customer's handle time with this agent, in simulated seconds."""
        stream = p.customer.stream
        seconds = p.customer.work * stream.aht_seconds
        return seconds * proficiency_factor(self.level(stream.queue)) if self.sc.proficiency else seconds

    async def handle(self, offer: routing_pb2.Offer) -> None:
        """Accept after a short delay, talk or reply, hold the contact for its handle time, wrap up."""
        await asyncio.sleep(self.sc.accept_delay_seconds / self.sc.speed)
        try:
            conv = await self.router.Accept(routing_pb2.AcceptRequest(agent_id=self.id,
                                                                      reservation_id=offer.reservation_id))
        except grpc.aio.AioRpcError:
            return  # the customer left or the offer was withdrawn meanwhile
        started = time.monotonic()
        self.tally.answer_delays.append(time.time() - conv.create_time.ToNanoseconds() / 1e9)
        channel = CHANNEL_NAMES.get(conv.channel, "")
        p = self.customers.lookup(channel, conv.identity.source_id)
        if p is None or p.gone:
            await self.wrap_up(conv.id, resolved=False)
            return
        p.answered.set()
        self.tally.answered.add(p.customer.key)
        self.tally.levels.setdefault(p.customer.stream.queue, []).append(self.level(p.customer.stream.queue))
        if channel != "voice":
            try:
                await self.reply(conv.id, p)
            except aiohttp.ClientError as exc:  # keep working: the report counts replies that never arrived
                self.errors.append(f"{self.id}: reply failed: {exc!r}"[:300])
        await asyncio.sleep(max(0.0, self.handle_seconds(p) / self.sc.speed - (time.monotonic() - started)))
        if channel == "voice":
            await self.customers.hang_up(p)
        await self.wrap_up(conv.id, resolved=p.customer.resolved)
        p.done.set()
        self.busy_seconds += time.monotonic() - started

    async def reply(self, conversation_id: str, p: Presence) -> None:
        """The agent's answer, sent through the inbox exactly as the web client sends it."""
        assert self.http is not None
        body = {"text": f"Hello {p.customer.key}, thanks for reaching out. This is {self.id}; happy to help."}
        async with self.http.post(f"/api/conversations/{conversation_id}/reply", json=body,
                                  headers={"X-CSRF-Token": self.csrf}) as resp:
            resp.raise_for_status()

    async def wrap_up(self, conversation_id: str, resolved: bool) -> None:
        """Close the conversation with a disposition and the FCR flag."""
        await self.router.WrapUp(routing_pb2.WrapUpRequest(agent_id=self.id, conversation_id=conversation_id,
                                                           resolved=resolved, disposition="simulated"))
        self.tally.handled.add(conversation_id)

    async def close(self) -> None:
        """Log out of the inbox session."""
        if self.http is not None:
            with contextlib.suppress(aiohttp.ClientError):
                await self.http.close()
