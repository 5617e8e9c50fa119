"""Attachments through the real hub (#20): a customer's files by email (SMTP), web chat, Telegram and MMS reach the agent
through the authenticated download path; the agent's files reach the customer by email (SMTP relay over loopback), web
chat (a signed link), Telegram (sendPhoto/sendDocument by URL, fetched by the double), MMS and WhatsApp (MediaUrl,
fetched by the Twilio double) and WeChat (media upload + customer-service message, checked by the WeChat double); who
may open what; nosniff, Content-Disposition and each channel's type and size rules."""

from __future__ import annotations

import asyncio
import json
import smtplib
import time
from collections.abc import AsyncIterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest
import pytest_asyncio
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from playwright.async_api import Browser, FilePayload, Locator, expect

from omnihub.testkit.fakes.telegram_api import FakeTelegramApi
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.fakes.wechat_api import FakeWeChatApi, message_xml
from omnihub.testkit.hub import ServiceHub, telegram_env, twilio_env, wechat_env
from omnihub.testkit.ports import free_port
from omnihub.testkit.servers import NatsServer
from omnihub.testkit.waiting import eventually
from tests.e2e.browser import chromium, go_available, login
from tests.e2e.hub import PASSWORDS, ROUTING, new_hub

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module"), pytest.mark.xdist_group("attachments")]
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002"
                    "00010005fe02fea30000000049454e44ae426082")  # a 1x1 PNG
PDF = b"%PDF-1.4\n% a receipt\n"
MB = 1024 * 1024
OURS = "+15550001111"
WA_OURS, WA_CUSTOMER = "whatsapp:+15550001111", "whatsapp:+8613900139077"
OPENID = "oWx_files_customer"
TELEGRAM_SECRET = "attach-secret"
RETENTION_DAYS = 30


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


class Relay:
    """The mail relay the email service sends through: real SMTP over loopback, keeping what it got."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(message_from_bytes(envelope.original_content or b"", policy=default_policy))  # type: ignore[arg-type]
        return "250 OK"


class Hub:
    def __init__(self, services: ServiceHub, relay: Relay, twilio: FakeTwilio, telegram: FakeTelegramApi,
                 wechat: FakeWeChatApi) -> None:
        self.services, self.relay, self.twilio, self.telegram = services, relay, twilio, telegram
        self.wechat = wechat
        self.base = services.url("inbox")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory, mongo_url: str) -> AsyncIterator[Hub]:
    """router, inbox, email, chat (web chat and Telegram), sms (Twilio double), quality and voice on their own
    nats-server."""
    nats = NatsServer()
    nats.start()
    twilio = FakeTwilio()
    await twilio.start()
    telegram = await FakeTelegramApi().start()
    wechat = await FakeWeChatApi().start()
    relay = Relay()
    relay_port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=relay_port)
    controller.start()
    services = new_hub(tmp_path_factory.mktemp("attach"), nats.url, mongo_url, twilio)
    routing = json.loads(json.dumps(ROUTING))
    routing["agents"] = [{**a, "auto_accept": True} for a in routing["agents"]]  # offers are taken at once
    (services.config_dir / "routing.yaml").write_text(yaml.safe_dump(routing))
    services.extra["email"] = {"OMNIHUB_EMAIL_RELAY_PORT": str(relay_port),
                               "OMNIHUB_EMAIL_DB": services.extra["inbox"]["OMNIHUB_INBOX_DB"] + "_email"}
    services.extra["chat"] = {**wechat_env(wechat, tmp_path_factory.mktemp("chatvar")),
                              **telegram_env(telegram, TELEGRAM_SECRET), "OMNIHUB_TELEGRAM_ENABLED": "true"}
    services.extra["inbox"] |= twilio_env(twilio)  # agents open MMS media with the account's credentials
    services.extra["voice"] = twilio_env(twilio)
    services.extra["quality"] |= {"OMNIHUB_QUALITY_SURVEYS": "false"}  # no survey races the erasure test
    services.env["OMNIHUB_RETENTION_MESSAGES_DAYS"] = str(RETENTION_DAYS)  # bounds every stream's age
    try:  # quality and voice too: every service answers the erasure test's request
        services.start("router", "inbox", "email", "chat", "sms", "quality", "voice")
        yield Hub(services, relay, twilio, telegram, wechat)
    finally:
        services.stop()
        controller.stop()
        await twilio.stop()
        await telegram.stop()
        await wechat.stop()
        nats.cleanup()


async def session(hub: Hub, user: str) -> tuple[aiohttp.ClientSession, dict[str, str]]:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    resp = await http.post(hub.base + "/api/login", json={"username": user, "password": PASSWORDS[user]})
    assert resp.status == 200, await resp.text()
    return http, {"X-CSRF-Token": (await resp.json())["csrf"]}


async def conversation_on(http: aiohttp.ClientSession, hub: Hub, channel: str) -> dict[str, Any] | None:
    async with http.get(hub.base + "/api/conversations") as resp:
        convs = await resp.json()
    return next((c for c in convs if c.get("channel") == "CHANNEL_" + channel.upper()), None)


async def attachments_of(http: aiohttp.ClientSession, hub: Hub, cid: str) -> list[dict[str, Any]]:
    async with http.get(f"{hub.base}/api/conversations/{cid}/messages") as resp:
        history = (await resp.json())["messages"]
    return [a for m in history if m.get("conversation_id") == cid for a in m.get("attachments", [])]


async def upload(http: aiohttp.ClientSession, hub: Hub, csrf: dict[str, str], cid: str, data: bytes, name: str,
                 ctype: str, with_ids: tuple[str, ...] = ()) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type=ctype)
    async with http.post(f"{hub.base}/api/conversations/{cid}/attachments", data=form, headers=csrf,
                         params=[("with", i) for i in with_ids]) as resp:
        return resp.status, (await resp.json() if resp.content_type == "application/json" else await resp.text())


async def send_files(http: aiohttp.ClientSession, hub: Hub, csrf: dict[str, str], cid: str, text: str,
                     files: list[tuple[bytes, str, str]]) -> tuple[int, str]:
    """Upload each (data, name, type) for conversation `cid`, then reply with them: the reply's (status, body)."""
    ids = []
    for data, name, ctype in files:
        status, ref = await upload(http, hub, csrf, cid, data, name, ctype)
        assert status == 200, ref
        ids.append(ref["id"])
    async with http.post(f"{hub.base}/api/conversations/{cid}/reply", json={"text": text, "attachments": ids},
                         headers=csrf) as resp:
        return resp.status, await resp.text()


def payload(name: str, mime: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": mime, "buffer": data}


async def image_loaded(image: Locator) -> bool:
    """Whether the browser fetched and decoded the image (through the session-authenticated path)."""
    return bool(await image.evaluate("img => img.complete && img.naturalWidth > 0"))


def send_mail(port: int, sender: str = "li@example.cn", message_id: str = "<files-1@example.cn>") -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, "support@example.com", "发票 invoice"
    mail["Message-ID"] = message_id
    mail.set_content("Here is my receipt and a photo.")
    mail.add_attachment(PDF, maintype="application", subtype="pdf", filename="receipt 收据.pdf")
    mail.add_attachment(PNG, maintype="image", subtype="png", filename="photo.png")
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
        smtp.send_message(mail)


async def test_files_both_ways_on_email_and_web_chat_with_access_and_limits(hub: Hub) -> None:
    alice, alice_csrf = await session(hub, "alice")
    bob, _ = await session(hub, "bob")
    sam, _ = await session(hub, "sam")
    anonymous = aiohttp.ClientSession()
    try:
        resp = await alice.post(hub.base + "/api/state", json={"state": "AVAILABLE"}, headers=alice_csrf)
        assert resp.status == 200, await resp.text()

        # The customer's files by email: stored by the email service, opened through the inbox.
        await asyncio.to_thread(send_mail, hub.services.ports["email_smtp"])
        conv = await eventually(lambda: conversation_on(alice, hub, "email"), timeout=30)
        atts = await eventually(lambda: attachments_of(alice, hub, conv["id"]), timeout=30)
        by_name = {a["file_name"]: a for a in atts}
        assert set(by_name) == {"receipt 收据.pdf", "photo.png"}
        pdf_id, png_id = by_name["receipt 收据.pdf"]["id"], by_name["photo.png"]["id"]
        async with alice.get(f"{hub.base}/api/attachments/{pdf_id}") as r:
            assert r.status == 200 and await r.read() == PDF
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["Content-Type"] == "application/pdf"
            assert r.headers["Content-Disposition"] == (
                "attachment; filename=\"receipt .pdf\"; filename*=UTF-8''receipt%20%E6%94%B6%E6%8D%AE.pdf")
        async with alice.get(f"{hub.base}/api/attachments/{png_id}") as r:  # previewed inline in the desktop
            assert r.status == 200 and await r.read() == PNG
            assert r.headers["Content-Disposition"].startswith("inline;")
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        async with alice.get(f"{hub.base}/api/attachments/{png_id}?download=1") as r:
            assert r.headers["Content-Disposition"].startswith("attachment;")
        assert (await bob.get(f"{hub.base}/api/attachments/{pdf_id}")).status == 403  # not his conversation
        assert (await sam.get(f"{hub.base}/api/attachments/{pdf_id}")).status == 200  # supervisors see all
        assert (await anonymous.get(f"{hub.base}/api/attachments/{pdf_id}")).status == 401
        assert (await alice.get(f"{hub.base}/api/attachments/{'0' * 32}")).status == 404
        assert (await alice.get(f"{hub.base}/api/attachments/../../etc")).status == 404

        # The agent's file by email: the relay gets it as a MIME attachment.
        status, ref = await upload(alice, hub, alice_csrf, conv["id"], PDF + b"ours", "quote.pdf", "application/pdf")
        assert status == 200, ref
        status, _ = await upload(bob, hub, {"X-CSRF-Token": "x"}, conv["id"], PDF, "x.pdf", "application/pdf")
        assert status == 403
        resp = await alice.post(f"{hub.base}/api/conversations/{conv['id']}/reply",
                                json={"text": "Our quote is attached.", "attachments": [ref["id"]]}, headers=alice_csrf)
        assert resp.status == 200, await resp.text()
        mail = await eventually(lambda: next((m for m in hub.relay.received if "quote" in str(m.get_body())), None),
                                timeout=30)
        assert mail is not None
        parts = {p.get_filename(): p.get_content() for p in mail.iter_attachments()}
        assert parts == {"quote.pdf": PDF + b"ours"}
        status, refused = await upload(alice, hub, alice_csrf, conv["id"], b"0" * (25 * MB + 1), "big.pdf",
                                       "application/pdf")
        assert status == 413 and refused["code"] == "channel_limit" and refused["limit_bytes"] == 25 * MB
        status, refused = await upload(alice, hub, alice_csrf, conv["id"], b"<svg/>", "x.svg", "image/svg+xml")
        assert status == 415 and refused["code"] == "type"
        resp = await alice.post(f"{hub.base}/api/conversations/{conv['id']}/reply",
                                json={"text": "x", "attachments": ["f" * 32]}, headers=alice_csrf)
        assert resp.status == 400  # never uploaded to this conversation

        # The customer's file by web chat: uploaded in the widget, opened through the inbox.
        chat = hub.services.url("chat")
        visitor = aiohttp.ClientSession()
        try:
            ws = await visitor.ws_connect(f"{chat}/ws/chat")
            await ws.send_json({"type": "hello", "name": "Li", "topic": "support"})
            welcome = await ws.receive_json(timeout=10)
            form = aiohttp.FormData()
            form.add_field("file", PNG, filename="screen.png", content_type="image/png")
            async with visitor.post(f"{chat}/widget/upload", data=form,
                                    headers={"X-Visitor-Token": welcome["token"]}) as r:
                assert r.status == 200, await r.text()
                widget_ref = await r.json()
            await ws.send_json({"type": "message", "client_id": "c1", "text": "see", "attachments": [widget_ref]})
            web_conv = await eventually(lambda: conversation_on(alice, hub, "webchat"), timeout=30)
            web_atts = await eventually(lambda: attachments_of(alice, hub, web_conv["id"]), timeout=30)
            async with alice.get(f"{hub.base}/api/attachments/{web_atts[0]['id']}") as r:
                assert r.status == 200 and await r.read() == PNG
                assert r.headers["Content-Disposition"].startswith("inline;")

            # The agent's file by web chat: the visitor gets a signed link that works, and only as signed.
            status, ref = await upload(alice, hub, alice_csrf, web_conv["id"], PDF, "guide.pdf", "application/pdf")
            assert status == 200, ref
            resp = await alice.post(f"{hub.base}/api/conversations/{web_conv['id']}/reply",
                                    json={"text": "", "attachments": [ref["id"]]}, headers=alice_csrf)
            assert resp.status == 200, await resp.text()
            frame: dict[str, Any] = {}
            while frame.get("sender") != "agent" or not frame.get("attachments"):
                frame = await ws.receive_json(timeout=30)
            link = frame["attachments"][0]["uri"]
            assert link.startswith(hub.base + "/files/") and frame["attachments"][0]["file_name"] == "guide.pdf"
            async with visitor.get(link) as r:
                assert r.status == 200 and await r.read() == PDF
                assert r.headers["Content-Disposition"].startswith("attachment;")
                assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert (await visitor.get(link[:-3] + "AAA")).status == 403
            assert (await visitor.get(link.replace("e=", "e=1"))).status == 403
            await ws.close()

            # 30 MB is refused with a clear 413, on the one channel that carries anything below it.
            status, refused = await upload(alice, hub, alice_csrf, web_conv["id"], b"0" * (30 * MB + 1), "huge.pdf",
                                           "application/pdf")
            assert status == 413 and refused["code"] == "too_large" and "30 MB" in refused["message"]
        finally:
            await visitor.close()
    finally:
        for http in (alice, bob, sam, anonymous):
            await http.close()


async def test_files_both_ways_on_telegram_and_mms(hub: Hub) -> None:
    alice, csrf = await session(hub, "alice")
    try:
        resp = await alice.post(hub.base + "/api/state", json={"state": "AVAILABLE"}, headers=csrf)
        assert resp.status == 200, await resp.text()

        # Telegram: the customer's photo, fetched through the chat service (getFile) when alice opens it.
        hub.telegram.files["photo-large"] = PNG
        update = {"update_id": 7001, "message": {
            "message_id": 7101, "date": 1_700_000_000, "chat": {"id": 4242, "type": "private", "first_name": "Li"},
            "from": {"id": 4242, "is_bot": False, "first_name": "Li"}, "caption": "my router",
            "photo": [{"file_id": "photo-large", "file_unique_id": "pl", "width": 800, "height": 600, "file_size": 70}]}}
        chat = hub.services.url("chat")
        async with alice.post(f"{chat}/telegram/webhook", json=update,
                              headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}) as r:
            assert r.status == 200
        conv = await eventually(lambda: conversation_on(alice, hub, "telegram"), timeout=30)
        atts = await eventually(lambda: attachments_of(alice, hub, conv["id"]), timeout=30)
        async with alice.get(f"{hub.base}/api/attachments/{atts[0]['id']}") as r:
            assert r.status == 200 and await r.read() == PNG
        async with alice.get(f"{chat}/telegram/files/photo-large") as r:
            assert r.status == 401  # only the inbox, with the deployment's service token

        # The agent's photo and document: sendPhoto and sendDocument by a signed link the Bot API fetches.
        status, text = await send_files(alice, hub, csrf, conv["id"], "Here you go",
                                        [(PNG, "map.png", "image/png"), (PDF, "terms.pdf", "application/pdf")])
        assert status == 200, text
        await eventually(lambda: hub.telegram.calls("sendDocument"), timeout=30)
        photo = hub.telegram.calls("sendPhoto")[-1].params["photo"]
        document = hub.telegram.calls("sendDocument")[-1].params["document"]
        assert photo.startswith(hub.base + "/files/") and document.startswith(hub.base + "/files/")
        await eventually(lambda: len(hub.telegram.fetched) >= 2, timeout=30)  # the call is logged before its fetch
        assert (photo, 200, PNG) in hub.telegram.fetched and (document, 200, PDF) in hub.telegram.fetched
        status, refused = await upload(alice, hub, csrf, conv["id"], b"0" * (5 * MB + 1), "big.png", "image/png")
        assert status == 413 and refused["code"] == "channel_limit" and refused["limit_bytes"] == 5 * MB

        # MMS: the customer's picture is fetched from Twilio with the account's credentials when alice opens it.
        media_url = hub.twilio.add_media(PNG, "image/png")
        resp = await hub.twilio.post_webhook(f"{hub.services.url('sms')}/twilio/sms", hub.twilio.inbound_sms(
            OURS, "+8613800000077", "photo of the box", media=[(media_url, "image/png")]))
        assert resp.status == 200
        sms = await eventually(lambda: conversation_on(alice, hub, "sms"), timeout=30)
        atts = await eventually(lambda: attachments_of(alice, hub, sms["id"]), timeout=30)
        async with alice.get(f"{hub.base}/api/attachments/{atts[0]['id']}") as r:
            assert r.status == 200 and await r.read() == PNG
            assert r.headers["Content-Disposition"].startswith("inline;")

        # The agent's MMS: MediaUrl is a signed public link of ours, which the Twilio double fetched.
        status, text = await send_files(alice, hub, csrf, sms["id"], "Your label", [(PNG, "label.png", "image/png")])
        assert status == 200, text
        sent = await eventually(lambda: next((m for m in hub.twilio.messages.values() if m["media_url"]), None),
                                timeout=30)
        assert sent is not None and sent["media_url"][0].startswith(hub.base + "/files/")
        link = sent["media_url"][0]  # the double records the message, then fetches its media (as Twilio does)
        await eventually(lambda: (link, 200, PNG) in hub.twilio.media_fetched, timeout=30)
        status, refused = await upload(alice, hub, csrf, sms["id"], b"0" * (5 * MB + 1), "big.pdf", "application/pdf")
        assert status == 413 and refused["code"] == "channel_limit"
        status, first = await upload(alice, hub, csrf, sms["id"], b"0" * (3 * MB), "a.pdf", "application/pdf")
        assert status == 200, first
        status, refused = await upload(alice, hub, csrf, sms["id"], b"0" * (3 * MB), "b.pdf", "application/pdf",
                                       (first["id"],))
        assert status == 413 and refused["code"] == "channel_total" and refused["limit_bytes"] == 5 * MB
        status, refused = await upload(alice, hub, csrf, sms["id"], b"notes", "notes.txt", "text/plain")
        assert status == 415 and refused["code"] == "channel_type" and refused["channel"] == "sms"
        assert "image/png" in refused["allowed"] and "text/plain" not in refused["allowed"]
    finally:
        await alice.close()


async def test_files_to_whatsapp_and_wechat_customers(hub: Hub) -> None:
    alice, csrf = await session(hub, "alice")  # Available since the Telegram test: she takes these customers
    try:
        resp = await alice.post(hub.base + "/api/state", json={"state": "AVAILABLE"}, headers=csrf)
        assert resp.status == 200, await resp.text()

        # WhatsApp: the customer writes; alice's PDF goes as Twilio's MediaUrl (a signed link the double fetches).
        resp = await hub.twilio.post_webhook(f"{hub.services.url('sms')}/twilio/whatsapp",
                                             hub.twilio.inbound_sms(WA_OURS, WA_CUSTOMER, "the contract please"))
        assert resp.status == 200
        wa = await eventually(lambda: conversation_on(alice, hub, "whatsapp"), timeout=30)
        status, refused = await upload(alice, hub, csrf, wa["id"], PNG[:8], "dance.gif", "image/gif")
        assert status == 415 and refused["code"] == "channel_type" and refused["channel"] == "whatsapp"
        assert "image/gif" not in refused["allowed"] and "application/pdf" in refused["allowed"]
        status, first = await upload(alice, hub, csrf, wa["id"], PDF, "a.pdf", "application/pdf")
        assert status == 200, first
        status, refused = await upload(alice, hub, csrf, wa["id"], PDF, "b.pdf", "application/pdf", (first["id"],))
        assert status == 400 and refused["code"] == "channel_count" and refused["limit_bytes"] == 1  # said at once
        status, text = await send_files(alice, hub, csrf, wa["id"], "two at once",
                                        [(PDF, "a.pdf", "application/pdf"), (PDF, "b.pdf", "application/pdf")])
        assert status == 400 and json.loads(text)["code"] == "channel_count"  # WhatsApp: one file a message
        status, text = await send_files(alice, hub, csrf, wa["id"], "Your contract",
                                        [(PDF, "contract.pdf", "application/pdf")])
        assert status == 200, text
        sent = await eventually(lambda: next((m for m in hub.twilio.messages.values()
                                              if m["to"] == WA_CUSTOMER and m["media_url"]), None), timeout=30)
        assert sent is not None and (sent["from"], sent["body"]) == (WA_OURS, "Your contract")
        [link] = sent["media_url"]
        assert link.startswith(hub.base + "/files/")
        await eventually(lambda: (link, 200, PDF) in hub.twilio.media_fetched, timeout=30)
        assert hub.twilio.media_types[link] == "application/pdf"  # Twilio checks the served Content-Type

        # WeChat: alice's image is uploaded as temporary media (type=image) and sent as an image message naming
        # that media_id; her PDF goes as its link (Official Accounts have no file message).
        pushed = await hub.wechat.push(hub.services.url("chat") + "/wechat/callback",
                                       message_xml("text", OPENID, msg_id=9901, Content="请发一下地图和说明"), safe=True)
        assert pushed == (200, "success")
        wx = await eventually(lambda: conversation_on(alice, hub, "wechat"), timeout=30)
        status, refused = await upload(alice, hub, csrf, wx["id"], b"0" * (10 * MB + 1), "big.png", "image/png")
        assert status == 413 and refused["code"] == "channel_limit" and refused["limit_bytes"] == 10 * MB
        status, text = await send_files(alice, hub, csrf, wx["id"], "",
                                        [(PNG, "地图.png", "image/png"), (PDF, "guide.pdf", "application/pdf")])
        assert status == 200, text
        await eventually(lambda: len([m for m in hub.wechat.sent if m["touser"] == OPENID]) >= 2, timeout=30)
        [up] = [c for c in hub.wechat.calls("media/upload") if c.body["media"][1] == PNG]
        assert up.params["type"] == "image" and up.body["media"][2] == "image/png"
        assert unquote(up.body["media"][0]) == "地图.png"  # httpx percent-encodes a non-ASCII file name
        image, note = [m for m in hub.wechat.sent if m["touser"] == OPENID]
        assert image["msgtype"] == "image" and hub.wechat.media[image["image"]["media_id"]] == (PNG, "image/png")
        assert note["msgtype"] == "text" and note["text"]["content"].startswith(f"📎 guide.pdf: {hub.base}/files/")
        async with alice.get(note["text"]["content"].split(": ", 1)[1]) as r:  # the customer's link works
            assert r.status == 200 and await r.read() == PDF
    finally:
        await alice.close()


@pytest.mark.browser
async def test_the_desktop_opens_and_sends_files_on_email_and_web_chat_and_refuses_30_mb(hub: Hub,
                                                                                          browser: Browser) -> None:
    alice, csrf = await session(hub, "alice")  # alice steps away: bob takes this test's customers
    resp = await alice.post(hub.base + "/api/state", json={"state": "AWAY", "reason": "break"}, headers=csrf)
    assert resp.status == 200, await resp.text()
    await alice.close()
    bob, _ = await session(hub, "bob")
    page = await login(browser, hub.base, "bob")
    visitor = await (await browser.new_context()).new_page()
    try:
        await go_available(page)

        # Email in: the photo is previewed inline, the PDF downloads through the authenticated path.
        await asyncio.to_thread(send_mail, hub.services.ports["email_smtp"], "wang@example.cn", "<files-2@example.cn>")
        conv = await eventually(lambda: conversation_on(bob, hub, "email"), timeout=30)
        await page.locator(f'#conv-list .conv[data-id="{conv["id"]}"]').click()
        preview = page.locator("img.attachment-preview")
        await expect(preview).to_be_visible(timeout=20_000)
        await eventually(lambda: image_loaded(preview), timeout=10)
        async with page.expect_download() as download:
            await page.locator(".attachment-link", has_text="receipt").click()
        assert Path(await (await download.value).path()).read_bytes() == PDF

        # Email out: a file attached in the composer reaches the relay as a MIME attachment.
        await page.set_input_files("#attach-file", files=[payload("offer.pdf", "application/pdf", PDF + b"offer")])
        await expect(page.locator(".attach-pending li")).to_contain_text("offer.pdf", timeout=15_000)
        await page.fill("#reply", "Our offer is attached.")
        await page.click("#send")
        mail = await eventually(lambda: next((m for m in hub.relay.received if "Our offer" in str(m.get_body())),
                                             None), timeout=30)
        assert mail is not None
        assert {p.get_filename(): p.get_content() for p in mail.iter_attachments()} == {"offer.pdf": PDF + b"offer"}
        await expect(page.locator(".msg.outgoing .attachment-link")).to_contain_text("offer.pdf", timeout=15_000)
        await expect(page.locator(".attach-pending li")).to_have_count(0)

        # 30 MB: refused at once with a clear message, nothing uploaded.
        await page.evaluate("""size => {  // made in the page: 30 MB through the DevTools protocol takes a minute here
            const input = document.querySelector("#attach-file");
            const files = new DataTransfer();
            files.items.add(new File([new Uint8Array(size)], "huge.pdf", { type: "application/pdf" }));
            input.files = files.files;
            input.dispatchEvent(new Event("change", { bubbles: true }));
        }""", 30 * MB + 1)
        await expect(page.locator("#attach-error")).to_have_text("huge.pdf is larger than 30 MB and cannot be sent.")
        await expect(page.locator(".attach-pending li")).to_have_count(0)

        # Web chat in: the visitor attaches a photo in the widget; bob sees it inline.
        await visitor.goto(hub.services.url("chat") + "/widget")
        await visitor.click("#omni-bubble")
        await visitor.fill("#omni-name", "Mei Lin")
        await visitor.click("#omni-start")
        await visitor.set_input_files("#omni-file", files=[payload("screen.png", "image/png", PNG)])
        await expect(visitor.locator(".omni-visitor .omni-attachment")).to_have_text("screen.png", timeout=15_000)
        web = await eventually(lambda: conversation_on(bob, hub, "webchat"), timeout=30)
        await page.locator(f'#conv-list .conv[data-id="{web["id"]}"]').click()
        preview = page.locator('.msg.incoming img.attachment-preview[alt="Image screen.png"]')  # this conversation's
        await expect(preview).to_be_visible(timeout=20_000)
        await eventually(lambda: image_loaded(preview), timeout=10)

        # Web chat out: bob sends a file alone; the visitor downloads it by its signed link.
        await page.set_input_files("#attach-file", files=[payload("guide.pdf", "application/pdf", PDF + b"guide")])
        await expect(page.locator(".attach-pending li")).to_contain_text("guide.pdf", timeout=15_000)
        await page.click("#send")
        link = visitor.locator(".omni-agent .omni-attachment")
        await expect(link).to_have_text("guide.pdf", timeout=20_000)
        assert (await link.get_attribute("href") or "").startswith(hub.base + "/files/")
        async with visitor.expect_download() as download:
            await link.click()
        assert Path(await (await download.value).path()).read_bytes() == PDF + b"guide"
    finally:
        await page.context.close()
        await visitor.context.close()
        await bob.close()


# ---- retain (#25): erasing one customer leaves nothing of them in MongoDB, GridFS, KV or an unbounded stream ------
ZED_NAME, ZED_MAIL, ZED_PHONE = "Zed Quist", "zed.quist@example.org", "+15557770123"
NEEDLES = (ZED_NAME, ZED_MAIL, ZED_PHONE, ZED_PHONE[1:])  # the digits alone too: an escaped KV key keeps them
ZED_DATE = formatdate(time.time())  # when he wrote (before the erasure; his server may deliver it again later)
NEW_TEXT = "Back again, xylophone42 question"  # his text after the erasure: a new customer's
CONTENT_STREAMS = ("CONTACTS_IN", "CONTACTS_OUT", "EVENTS", "DEADLETTER")


def zed_mail() -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = f"{ZED_NAME} <{ZED_MAIL}>", "support@example.com", "my order"
    mail["Message-ID"], mail["Date"] = "<zed-1@example.org>", ZED_DATE
    mail.set_content(f"This is {ZED_NAME}; call me on {ZED_PHONE}.")
    mail.add_attachment(f"%PDF-1.4\n% {ZED_NAME}\n".encode(), maintype="application", subtype="pdf",
                        filename="zed.pdf")
    return mail


async def mongo_hits(mongo_url: str, prefix: str, needles: tuple[str, ...] = NEEDLES) -> list[str]:
    """Every document of every collection of the hub's databases (GridFS chunks included) naming Zed, as BSON."""
    import bson
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    hits = []
    try:
        names = [n for n in await client.list_database_names() if n.startswith(prefix)]
        hits += [f"{len(names)} databases"] if prefix.endswith("_") and len(names) != 3 else []  # inbox, quality, email
        for name in names:
            for coll in await client[name].list_collection_names():
                async for doc in client[name][coll].find():
                    raw = bson.encode(doc).lower()
                    hits += [f"{name}.{coll} {doc.get('_id')!r}: {n}" for n in needles if n.lower().encode() in raw]
    finally:
        await client.close()
    return hits


async def stream_hits(nats_url: str) -> list[str]:
    """Every message of every stream (KV buckets are streams) naming Zed that is older than its stream's age
    bound, or in a stream without one; and any content stream kept longer than the retention."""
    import nats
    import nats.js.errors

    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    hits, now = [], time.time()
    try:
        for info in await js.streams_info():
            name, max_age = str(info.config.name), info.config.max_age or 0.0
            if name in CONTENT_STREAMS and not 0 < max_age <= RETENTION_DAYS * 86_400:
                hits.append(f"{name} keeps messages {max_age} s")
            seq = 1
            while True:
                try:
                    msg = await js.get_msg(name, seq=seq, subject=">", next=True)
                except nats.js.errors.NotFoundError:
                    break
                seq = (msg.seq or seq) + 1
                text = (f"{msg.subject} {msg.headers}".encode() + (msg.data or b"")).lower()
                named = [n for n in NEEDLES if n.lower().encode() in text]
                age = now - msg.time.timestamp() if msg.time else float("inf")
                if named and not (max_age and age < max_age):
                    hits.append(f"{name} #{msg.seq} {msg.subject}: {named}")
    finally:
        await nc.close()
    return hits


async def test_erasing_a_customer_leaves_nothing_of_theirs(hub: Hub, mongo_url: str) -> None:
    ada, ada_csrf = await session(hub, "ada")
    sam, sam_csrf = await session(hub, "sam")
    agents = {u: await session(hub, u) for u in ("alice", "bob")}
    prefix = hub.services.extra["inbox"]["OMNIHUB_INBOX_DB"].removesuffix("_inbox")
    try:
        for http, csrf in agents.values():
            await http.post(hub.base + "/api/state", json={"state": "AVAILABLE"}, headers=csrf)
        # Zed writes by email (his name, a PDF naming him) and by text; a supervisor merges the two customers.
        await asyncio.to_thread(lambda: smtplib.SMTP("127.0.0.1", hub.services.ports["email_smtp"], timeout=20)
                                .send_message(zed_mail()))
        resp = await hub.twilio.post_webhook(f"{hub.services.url('sms')}/twilio/sms", hub.twilio.inbound_sms(
            OURS, ZED_PHONE, f"{ZED_NAME} here, by text"))
        assert resp.status == 200

        async def zeds() -> dict[str, dict[str, Any]] | None:
            async with sam.get(hub.base + "/api/conversations?all=1") as r:
                convs = {c.get("identity", {}).get("source_id"): c for c in await r.json()}
            found = {k: convs[k] for k in (ZED_MAIL, ZED_PHONE) if convs.get(k, {}).get("assigned_agent")}
            return found if len(found) == 2 else None

        convs = await eventually(zeds, timeout=60)
        keep, gone = convs[ZED_MAIL]["customer_id"], convs[ZED_PHONE]["customer_id"]
        resp = await sam.post(f"{hub.base}/api/customers/{keep}/merge", json={"customer_id": gone}, headers=sam_csrf)
        assert resp.status == 200, await resp.text()
        status, _ = await upload(sam, hub, sam_csrf, convs[ZED_MAIL]["id"], f"%PDF-1.4\n% for {ZED_NAME}\n".encode(),
                                 "reply.pdf", "application/pdf")  # an agent's upload: the inbox's GridFS
        assert status == 200
        await eventually(lambda: mongo_hits(mongo_url, prefix + "_quality"), timeout=30)  # quality has him too
        assert await mongo_hits(mongo_url, prefix + "_")
        async with ada.get(f"{hub.base}/api/admin/customers/{keep}/export") as r:  # his data first, as JSON
            exported = await r.json(content_type=None)
        quality = exported["quality"]  # quality's part, asked over NATS: both conversations, merged or not
        assert {c["_id"] for c in quality["conversations"]} == {c["id"] for c in convs.values()}
        assert all(c["timeline"][0]["event"]["customer_id"] for c in quality["conversations"])  # decoded events
        assert [e["kind"] for e in quality["events"]] == ["customer_merged"]
        assert ZED_NAME in json.dumps(exported["messages"]) and exported["attachments"]
        before = await stream_hits(hub.services.nats_url)  # his record in the router's and SMS service's KV
        assert any(h.startswith("KV_router_state") for h in before) and any(h.startswith("KV_sms") for h in before)

        # While his conversations are open the router refuses its part; the others erase theirs.
        url = f"{hub.base}/api/admin/customers/{keep}/erase"
        assert (await ada.post(url, json={"confirm": gone}, headers=ada_csrf)).status == 400
        assert (await sam.post(url, json={"confirm": keep}, headers=sam_csrf)).status == 403
        async with ada.post(url, json={"confirm": keep}, headers=ada_csrf) as r:
            first = await r.json()
        by_service = {s["service"]: s for s in first["services"]}
        assert first["state"] == "partial" and set(by_service) == {"inbox", "router", "quality", "email", "chat",
                                                                   "sms", "voice"}
        assert not by_service["router"]["ok"] and "open conversation" in by_service["router"]["error"]
        assert by_service["inbox"]["removed"]["messages"] >= 2 and by_service["email"]["removed"]["mails"] == 1
        assert by_service["sms"]["removed"]["sms_senders"] == 1 and by_service["quality"]["ok"]

        # Closed, a retry completes it: the saved request (identities) lets every service finish its part.
        for conv in convs.values():
            http, csrf = agents[conv["assigned_agent"]]
            resp = await http.post(f"{hub.base}/api/conversations/{conv['id']}/wrapup", json={"resolved": True},
                                   headers=csrf)
            assert resp.status == 200, await resp.text()

        async def closed_in_quality() -> bool:  # its last events stored: nothing of his arrives after the erasure
            from pymongo import AsyncMongoClient

            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
            try:
                docs = await client[prefix + "_quality"]["conversations"].find(
                    {"_id": {"$in": [c["id"] for c in convs.values()]}, "closed": {"$exists": True}}).to_list(None)
            finally:
                await client.close()
            return len(docs) == 2

        await eventually(closed_in_quality, timeout=30)

        async def erased() -> dict[str, Any] | None:
            async with ada.post(url, json={"confirm": keep}, headers=ada_csrf) as r:
                body: dict[str, Any] = await r.json()
            return body if body["state"] == "done" else None

        done = await eventually(erased, timeout=30)
        router = next(s for s in done["services"] if s["service"] == "router")
        assert router["removed"] == {"customers": 2, "identities": 2, "conversations": 2}
        async with ada.get(f"{hub.base}/api/admin/customers/{keep}/erasure") as r:
            assert r.status == 200 and (await r.json())["state"] == "done"
        assert (await sam.get(f"{hub.base}/api/customers/{keep}")).status == 404

        # The full search: every database and collection of every service, GridFS included, and every stream.
        assert await mongo_hits(mongo_url, prefix + "_") == []
        assert await stream_hits(hub.services.nats_url) == []
        async with ada.get(f"{hub.base}/api/admin/audit?action=customer.erase") as r:
            trail = (await r.json())["records"]
        assert trail[0]["target"] == keep and trail[0]["after"]["state"] == "done"
        assert [t["outcome"] for t in trail] == ["ok"] + ["partial"] * (len(trail) - 1)
        # A retry after success is harmless: nothing more to remove anywhere.
        async with ada.post(url, json={"confirm": keep}, headers=ada_csrf) as r:
            again = await r.json()
        assert again["state"] == "done" and all(not any(s["removed"].values()) for s in again["services"])
        await late_data_stays_out(hub, mongo_url, prefix, sam, convs, {keep, gone})
    finally:
        for http, _ in [*agents.values(), (ada, {}), (sam, {})]:
            await http.close()


async def late_data_stays_out(hub: Hub, mongo_url: str, prefix: str, sam: aiohttp.ClientSession,
                              convs: dict[str, dict[str, Any]], erased: set[str]) -> None:
    """After the erasure: his inbound messages delivered again (the router's stream), late events of his closed
    conversation and his old mail delivered again by his server bring nothing of him back; a new text from his
    number is a new customer's."""
    import nats

    from omnihub.api.contact.v1 import contact_pb2
    from omnihub.api.event.v1 import event_pb2
    from omnihub.api.messaging.v1 import messaging_pb2
    from omnihub.common.bus import new_event

    nc = await nats.connect(hub.services.nats_url)
    js = nc.jetstream()
    try:
        seq, his = 1, []
        while True:  # every inbound message of his still in CONTACTS_IN (it is age-bound)
            try:
                raw = await js.get_msg("CONTACTS_IN", seq=seq, subject="contacts.inbound.>", next=True)
            except nats.js.errors.NotFoundError:
                break
            seq = (raw.seq or seq) + 1
            if raw.data and any(n.encode() in raw.data for n in NEEDLES):
                his.append(raw)
        assert len(his) >= 2  # the mail and the text
        for raw in his:  # delivered once more, as a redelivery would
            await js.publish(str(raw.subject), raw.data or b"", headers={"Nats-Msg-Id": f"again-{raw.seq}"})
        sms = contact_pb2.Identity(channel=contact_pb2.CHANNEL_SMS, source_id=ZED_PHONE)
        late = [new_event("test", customer_id=sorted(erased)[0], conversation_id=convs[ZED_PHONE]["id"], identity=sms,
                          message_created=event_pb2.MessageCreated(message=messaging_pb2.Message(
                              id="msg_late_zed", channel=contact_pb2.CHANNEL_SMS, text=f"{ZED_NAME}, late",
                              direction=messaging_pb2.DIRECTION_INCOMING))),
                new_event("test", conversation_id=convs[ZED_MAIL]["id"], identity=sms,
                          conversation_wrapped_up=event_pb2.ConversationWrappedUp(agent_id="alice",
                                                                                  notes=f"{ZED_NAME} again"))]
        for subject, evt in zip(("contacts.events.message.created", "contacts.events.conversation.wrapped_up"),
                                late, strict=True):
            await js.publish(subject, evt.SerializeToString(), headers={"Nats-Msg-Id": evt.id})
    finally:
        await nc.close()
    # His mail server delivers his old mail again: accepted, not kept (nothing of it may come back).
    await asyncio.to_thread(lambda: smtplib.SMTP("127.0.0.1", hub.services.ports["email_smtp"], timeout=20)
                            .send_message(zed_mail()))
    # He writes again: a new contact, a new customer. Each consumer reads in order, so once his new text is
    # stored everywhere, what was delivered before it has been handled.
    resp = await hub.twilio.post_webhook(f"{hub.services.url('sms')}/twilio/sms", hub.twilio.inbound_sms(
        OURS, ZED_PHONE, NEW_TEXT))
    assert resp.status == 200

    async def new_customer() -> dict[str, Any] | None:
        async with sam.get(hub.base + "/api/conversations?all=1") as r:
            his = [c for c in await r.json() if c.get("identity", {}).get("source_id") == ZED_PHONE]
        return his[0] if len(his) == 1 and his[0]["customer_id"] not in erased else None

    fresh = await eventually(new_customer, timeout=30)
    await eventually(lambda: _stored(mongo_url, prefix, fresh["id"]), timeout=30)
    assert await mongo_hits(mongo_url, prefix + "_", (ZED_NAME, ZED_MAIL, "msg_late_zed")) == []
    # His old customer ids stay only where the erasure itself is recorded (random ids naming no one).
    records = (f"{prefix}_inbox.audit ", f"{prefix}_inbox.erasures ")
    assert [h for h in await mongo_hits(mongo_url, prefix + "_", tuple(erased)) if not h.startswith(records)] == []


async def _stored(mongo_url: str, prefix: str, conversation_id: str) -> bool:
    """Whether his new text is in the inbox (messages, search) and quality has its conversation."""
    hits = await mongo_hits(mongo_url, prefix + "_", ("xylophone42", conversation_id))
    return all(any(h.startswith(f"{prefix}_{where}") for h in hits)
               for where in ("inbox.messages", "inbox.search", "quality.conversations"))


async def test_admins_read_every_services_retention_runs(hub: Hub) -> None:
    """Each service ran its daily job at start (messages kept 30 days here); the inbox gathers their logs."""
    ada, _ = await session(hub, "ada")
    try:
        async def report() -> dict[str, Any] | None:
            async with ada.get(f"{hub.base}/api/admin/retention") as r:
                body: dict[str, Any] = await r.json()
            runs = {s["service"]: s["runs"] for s in body["services"] if s["ok"]}
            return body if set(runs) == {"inbox", "quality", "email", "chat"} and all(runs.values()) else None

        body = await eventually(report, timeout=30)
        assert body["days"] == {"messages": RETENTION_DAYS}
        for service in body["services"]:
            run = service["runs"][0]
            assert run["service"] == service["service"]
            if service["service"] in ("inbox", "email"):  # the services that keep messages
                assert run["kinds"]["messages"]["before"] == pytest.approx(run["time"] - RETENTION_DAYS * 86_400)
    finally:
        await ada.close()
