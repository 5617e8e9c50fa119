"""The agent desktop in headless Chromium: login to an interactive list (1,000 conversations of history, 50 open) and
the router's offer event to the offer on screen; with the CPU time of the servers and of Chromium beside the wall
time, the requests the first paint waited for, and POST /api/login with today's argon2 parameters beside the old ones."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from argon2 import PasswordHasher
from playwright.async_api import Browser, Page, async_playwright

from omnihub.api.event.v1 import event_pb2
from omnihub.common.bus import Bus
from omnihub.inbox.store import InboxStore
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.hub import ServiceHub, twilio_env
from omnihub.testkit.servers import MongoServer, NatsServer
from omnihub.testkit.waiting import eventually, read_events

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUR_NUMBER = "+15550001111"
HISTORY, OPEN, PER_CONVERSATION = 1_000, 50, 4
# When each offer card first appears (epoch ms, the router's clock is the same machine's).
WATCH_OFFERS = """() => {
  window.__shown = {};
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('.offer[data-reservation]')) {
      const id = el.getAttribute('data-reservation');
      if (!(id in window.__shown)) window.__shown[id] = Date.now();
    }
  }).observe(document.body, {childList: true, subtree: true});
}"""


PASSWORDS = {"alice": "alice-pass-1", "bob": "bob-pass-1", "olga": "olga-pass-1"}
# users.yaml's hashes: OWASP's argon2id minimum (what the inbox makes now); olga keeps argon2-cffi's old default
# (64 MiB, t=3, p=4), and her rehashed copy is removed before each of her logins, so each one checks the old hash.
OWASP = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
LEGACY = PasswordHasher(time_cost=3, memory_cost=65_536, parallelism=4)
DB = "bench_inbox_browser"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc), 0.0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(root: int, skip: set[int]) -> list[int]:
    """Every live process under `root` except the subtrees in `skip` (here: Chromium and Playwright's driver)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in skip:
            continue
        out.append(pid)
        todo += children.get(pid, [])
    return out


class Cpu:
    """CPU seconds of named server processes and of the browser side (this process's other descendants)."""

    def __init__(self, servers: dict[str, int]) -> None:
        self.servers = servers

    def sample(self) -> dict[str, float]:
        out = {name: cpu_seconds(pid) for name, pid in self.servers.items()}
        out["chromium"] = sum(cpu_seconds(p) for p in descendants(os.getpid(), set(self.servers.values())))
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before.get(k, 0.0) for k in after}


def new_hub(tmp: Path, nats_url: str, mongo_url: str, twilio: FakeTwilio) -> ServiceHub:
    """Two agents in one queue: alice takes SMS at once (auto-accept) up to 60; bob gets offers, also up to 60."""
    config = tmp / "config"
    config.mkdir(parents=True, exist_ok=True)
    agents = [{"id": a, "display_name": a.title(), "skills": {"support": 5}, "queues": ["support"],
               "capacity": {"sms": 60, "voice": 1}} for a in ("alice", "bob")]
    agents[0]["auto_accept"] = ["sms"]
    (config / "routing.yaml").write_text(yaml.safe_dump({
        "version": 1, "defaults": {"reservation_timeout_seconds": {"sms": 60}},
        "queues": [{"name": "support", "skills": [], "wrap_up_seconds": 1}], "agents": agents}))
    (config / "users.yaml").write_text(yaml.safe_dump({"users": [
        {"id": a, "display_name": a.title(), "role": "agent",
         "password_hash": (LEGACY if a == "olga" else OWASP).hash(p)} for a, p in PASSWORDS.items()]}))
    return ServiceHub(config, nats_url, mongo_url, extra={
        "sms": twilio_env(twilio),
        "inbox": {"OMNIHUB_INBOX_SESSION_KEY": "k" * 32, "OMNIHUB_INBOX_DB": DB}})


async def seed_history(mongo_url: str, db: str) -> None:
    """alice's 1,000 past conversations (4 messages each), written as the inbox stores them."""
    store = InboxStore(mongo_url, db)
    await store.setup()
    now = time.time()
    messages: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for c in range(HISTORY):
        cid, cus = f"cnv_hist{c:05d}", f"cus_hist{c:05d}"
        start = now - 90 * 86_400 + c * 7_000
        held.append({"_id": f"{cid}|alice", "conversation_id": cid, "customer_id": cus, "agent": "alice"})
        for k in range(PER_CONVERSATION):
            messages.append({"_id": f"msg_hist{c:05d}_{k}", "conversation_id": cid, "customer_id": cus,
                             "channel": "sms", "direction": "incoming" if k % 2 == 0 else "outgoing",
                             "text": f"history message {k} of conversation {c}", "subject": "", "html": "",
                             "agent_id": "" if k % 2 == 0 else "alice", "private": False, "time": start + 60 * k,
                             "status": "received" if k % 2 == 0 else "delivered", "attachments": []})
    for i in range(0, len(messages), 1000):
        await store.add_messages(messages[i:i + 1000])
    await store.held.insert_many(held, ordered=False)
    await store.close()


async def api_login(http: aiohttp.ClientSession, base: str, user: str) -> dict[str, str]:
    """A logged-in API session's CSRF header."""
    async with http.post(f"{base}/api/login", json={"username": user, "password": PASSWORDS[user]}) as resp:
        resp.raise_for_status()
        body: dict[str, Any] = await resp.json()
    return {"X-CSRF-Token": str(body.get("csrf", ""))}


async def set_state(http: aiohttp.ClientSession, base: str, headers: dict[str, str], state: str) -> None:
    async with http.post(f"{base}/api/state", json={"state": state}, headers=headers) as resp:
        resp.raise_for_status()


Run = tuple[float, float, dict[str, float], dict[str, float], float]  # list shown, login answered (s), requests,
# CPU, and the page's own time from the form's submit event to the list rendered (s)
# The page's clock at the submit event (the driver's click has its own round trips before the page sees it).
MARK_SUBMIT = "() => document.addEventListener('submit', () => { window.__submitted = performance.now(); }, true)"


async def login_to_list(browser: Browser, base: str, cpu: Cpu) -> Run:
    """Seconds from submitting alice's login form to her 50 open conversations listed and clickable, and of
    those the part until POST /api/login answered; when each request the page made answered (seconds after the
    submit), and the CPU seconds each process spent meanwhile."""
    context = await browser.new_context(viewport={"width": 1400, "height": 860})
    page = await context.new_page()
    await page.goto(base + "/")
    await page.fill("#username", "alice")
    await page.fill("#password", PASSWORDS["alice"])
    answered_at: dict[str, float] = {}
    started = time.perf_counter()

    def finished(request: Any) -> None:
        path = request.url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
        answered_at.setdefault("/" + path, time.perf_counter() - started)

    page.on("requestfinished", finished)
    await page.evaluate(MARK_SUBMIT)
    before = cpu.sample()
    started = time.perf_counter()
    async with page.expect_response(lambda r: r.url.endswith("/api/login")) as answered:
        await page.click("#login-button")
    await answered.value
    login = time.perf_counter() - started
    listed = await page.wait_for_function(
        f"() => {{ const b = document.querySelectorAll('#conv-list button.conv');"
        f" return b.length >= {OPEN} && !b[0].disabled && performance.now() - window.__submitted; }}",
        polling="raf", timeout=60_000)
    took = time.perf_counter() - started
    in_page = float(await listed.json_value()) / 1000
    spent = Cpu.delta(before, cpu.sample())
    await context.close()
    return took, login, answered_at, spent, in_page


async def api_logins(base: str, user: str, runs: int, mongo_url: str) -> list[float]:
    """Milliseconds of POST /api/login alone (argon2, the limiter, the audit line, the session); for olga, her
    rehashed copy (if this inbox keeps one) is removed first, so each login checks the old-parameter hash."""
    store = InboxStore(mongo_url, DB)
    out = []
    try:
        for _ in range(runs):
            if user == "olga":
                await store.db["password_rehash"].delete_many({})
            async with aiohttp.ClientSession() as http:
                t = time.perf_counter()
                async with http.post(f"{base}/api/login", json={"username": user, "password": PASSWORDS[user]}) as r:
                    r.raise_for_status()
                out.append((time.perf_counter() - t) * 1000)
    finally:
        await store.close()
    return out


async def offer_latencies(browser: Browser, base: str, bus: Bus, fake: FakeTwilio, sms_url: str,
                          runs: int) -> list[float]:
    """Milliseconds from the router's conversation.offered event to bob's offer card, one offer at a time."""
    page: Page = await (await browser.new_context(viewport={"width": 1400, "height": 860})).new_page()
    await page.goto(base + "/")
    await page.fill("#username", "bob")
    await page.fill("#password", PASSWORDS["bob"])
    await page.click("#login-button")
    await page.wait_for_selector("#who")
    await page.select_option("#state", "AVAILABLE")
    await page.wait_for_selector('#agent-state[data-state="AVAILABLE"]')
    await page.evaluate(WATCH_OFFERS)
    out = []
    for n in range(runs):
        sender = f"+86139{n:08d}"
        resp = await fake.post_webhook(f"{sms_url}/twilio/sms", fake.inbound_sms(OUR_NUMBER, sender, f"offer {n}"))
        resp.raise_for_status()
        def enough(evs: list[event_pb2.Event], n: int = n) -> bool:
            return sum(e.conversation_offered.agent_id == "bob" for e in evs) > n
        offered = await read_events(bus, "conversation_offered", until=enough, timeout=60)
        event = [e for e in offered if e.conversation_offered.agent_id == "bob"][n]
        reservation = event.conversation_offered.reservation_id
        shown = await page.wait_for_function(f"() => window.__shown[{reservation!r}]", timeout=60_000)
        out.append(float(await shown.json_value()) - event.time.ToNanoseconds() / 1e6)
        await page.locator(f'.offer[data-reservation="{reservation}"] .accept').click()
        await page.wait_for_selector(f'.offer[data-reservation="{reservation}"]', state="detached")
    return out


def summary(label: str, values: list[float], unit: str, target: float) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return (f"{label:44} n={len(values):3}  median {statistics.median(values):8.1f} {unit}  p95 {p95:8.1f} {unit}"
            f"  max {values[-1]:8.1f} {unit}  target < {target:g} {unit}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logins", type=int, default=7)
    parser.add_argument("--offers", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, NatsServer() as nats, MongoServer() as mongo:
        fake = FakeTwilio()
        await fake.start()
        hub = new_hub(Path(tmp), nats.url, mongo.url, fake)
        bus = await Bus.connect(nats.url, name="bench-inbox-browser")
        try:
            hub.start("router", "sms", "inbox")  # no quality: neither measured path asks it
            base = hub.url("inbox")
            await seed_history(mongo.url, hub.extra["inbox"]["OMNIHUB_INBOX_DB"])
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                alice = await api_login(http, base, "alice")
                await set_state(http, base, alice, "AVAILABLE")
                for n in range(OPEN):
                    resp = await fake.post_webhook(f"{hub.url('sms')}/twilio/sms",
                                                   fake.inbound_sms(OUR_NUMBER, f"+86138{n:08d}", f"open {n}"))
                    resp.raise_for_status()

                async def open_count() -> bool:
                    async with http.post(f"{base}/api/heartbeat", headers=alice):  # no socket: keep her online
                        pass
                    async with http.get(f"{base}/api/conversations") as resp:
                        return len(await resp.json()) >= OPEN
                await eventually(open_count, timeout=120)
                print(f"seeded: {HISTORY:,} past conversations ({HISTORY * PER_CONVERSATION:,} messages) and "
                      f"{OPEN} open for alice", flush=True)
                cpu = Cpu({"inbox": hub.procs["inbox"].proc.pid, "router": hub.procs["router"].proc.pid,  # type: ignore[union-attr]
                           "database": mongo.proc.pid})  # type: ignore[union-attr]
                new = await api_logins(base, "alice", args.logins, mongo.url)
                old = await api_logins(base, "olga", args.logins, mongo.url)
                print(summary("POST /api/login, OWASP argon2id (19 MiB, t=2)", new, "ms", 1000), flush=True)
                print(summary("POST /api/login, old argon2id (64 MiB, t=3, p=4)", old, "ms", 1000), flush=True)
                async with async_playwright() as p:
                    browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                    await login_to_list(browser, base, cpu)  # warm-up: the first page load compiles the bundle
                    runs = [await login_to_list(browser, base, cpu) for _ in range(args.logins)]
                    print(summary("login submitted -> 50 conversations listed", [1000 * r[0] for r in runs], "ms",
                                  1000), flush=True)
                    print(summary("  the same, the page's clock (submit event)", [1000 * r[4] for r in runs], "ms",
                                  1000), flush=True)
                    print(summary("  of which POST /api/login", [1000 * r[1] for r in runs], "ms", 1000),
                          flush=True)
                    paths = sorted({k for r in runs for k in r[2]}, key=lambda k: statistics.median(
                        r[2][k] for r in runs if k in r[2]))
                    for path in paths:
                        print(f"    {path[:60]:60} answered at median {statistics.median(1000 * r[2][path] for r in runs if path in r[2]):7.1f} ms"
                              f" after the submit ({sum(path in r[2] for r in runs)}/{len(runs)} runs)", flush=True)
                    names = runs[0][3].keys()
                    print("  CPU ms per login (median): " + ", ".join(
                        f"{n} {statistics.median(1000 * r[3][n] for r in runs):.0f}" for n in names), flush=True)
                    await set_state(http, base, alice, "AWAY")  # the offers go to bob
                    offers = await offer_latencies(browser, base, bus, fake, hub.url("sms"), args.offers)
                    print(summary("router's offer event -> offer on screen", offers, "ms", 300), flush=True)
                    await browser.close()
        finally:
            await bus.close()
            hub.stop()
            await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
