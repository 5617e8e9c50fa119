"""The email channel over real SMTP on loopback, real NATS and SecantusDB."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import smtplib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, make_msgid
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, new_id
from omnihub.email.app import STORE_KEY, attachment
from omnihub.email.config import EmailConfig, EmailSettings, Mailbox
from omnihub.email.inbound import InboundHandler, smtp_factory
from omnihub.email.outbound import Sender
from omnihub.email.store import MailStore
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import read_events, read_messages

CONFIG = EmailConfig(addresses={"support@example.com": Mailbox(queue="support", signature="Support team"),
                                "sales@example.com": Mailbox(queue="sales")}, default_from="support@example.com")
MAX = 10 * 1024 * 1024


@dataclass
class Harness:
    bus: Bus
    store: MailStore
    port: int

    def send(self, msg: Any, rcpt: str = "support@example.com", sender: str = "li@example.cn") -> dict[str, Any]:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as smtp:
            smtp.ehlo()
            return smtp.sendmail(sender, [rcpt], msg.as_bytes() if hasattr(msg, "as_bytes") else msg)


@pytest.fixture
async def email_in(bus: Bus, mongo_url: str, mongo_db: str) -> AsyncIterator[Harness]:
    store = MailStore(mongo_url, mongo_db)
    await store.setup()
    handler = InboundHandler(bus, store, CONFIG)
    port = free_port()
    server = await asyncio.get_running_loop().create_server(
        lambda: smtp_factory(handler, "omnihub.test", MAX), host="127.0.0.1", port=port)
    yield Harness(bus, store, port)
    server.close()
    await store.close()


async def published(bus: Bus, count: int | None = None) -> list[messaging_pb2.InboundMessage]:
    """The inbound email stored now (mail is published before the 250), or once `count` are."""
    raw = await read_messages(bus, "contacts.inbound.email", count=count)
    return [messaging_pb2.InboundMessage.FromString(m.data) for m in raw]


def mail(body: str, charset: str = "utf-8", subject: str = "Hello", msgid: str = "<m1@example.cn>", **headers: str) -> MIMEText:
    m = MIMEText(body, "plain", charset)
    m["Subject"] = Header(subject, charset).encode() if not subject.isascii() else subject
    m["From"] = formataddr(("李雷", "li@example.cn"), charset=charset)
    m["To"] = "support@example.com"
    m["Message-ID"] = msgid
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    return m


async def test_gbk_and_big5_mail_and_rfc2047_subject(email_in: Harness) -> None:
    await asyncio.to_thread(email_in.send, mail("您好，我的订单还没有到。", "gbk", "订单问题", "<gbk@example.cn>"))
    await asyncio.to_thread(email_in.send, mail("請問退款什麼時候到帳？", "big5", "退款", "<big5@example.tw>"))
    msgs = await published(email_in.bus, 2)
    assert [m.email.text for m in msgs] == ["您好，我的订单还没有到。", "請問退款什麼時候到帳？"]
    assert msgs[0].email.subject == "订单问题" and msgs[1].email.subject == "退款"
    assert msgs[0].display_name == "李雷" and msgs[0].identity.source_id == "li@example.cn"
    assert msgs[0].routing_hints.queue == "support"


async def test_a_mail_to_several_keeps_its_other_recipients_for_a_reply_all(email_in: Harness) -> None:
    m = mail("see my colleagues", msgid="<all@example.cn>", Cc="Wang <Wang@Example.cn>, sales@example.com, li@example.cn")
    m.replace_header("To", "support@example.com, 张三 <zhang@example.cn>")
    await asyncio.to_thread(email_in.send, m)
    [msg] = await published(email_in.bus, 1)
    # not the sender, not our mailboxes (support@ and sales@), To's first then Cc's, lower-cased
    assert list(msg.email.reply_all_cc) == ["zhang@example.cn", "wang@example.cn"]


async def test_smtp_sessions_do_not_log_customers_addresses(email_in: Harness,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    await asyncio.to_thread(email_in.send, mail("hello", msgid="<quiet@example.cn>"))
    assert len(await published(email_in.bus, 1)) == 1
    assert "li@example.cn" not in caplog.text


async def test_html_is_sanitised(email_in: Harness) -> None:
    m = MIMEMultipart("alternative")
    m["Subject"], m["From"], m["To"], m["Message-ID"] = "html", "a@b.c", "support@example.com", "<h@b.c>"
    m.attach(MIMEText('<p onclick="x()">Hi<script>alert(1)</script><img src="https://track.example/p.gif">'
                      '<img src=x onerror=alert(2)><a href="javascript:alert(3)">link</a></p>', "html", "utf-8"))
    await asyncio.to_thread(email_in.send, m)
    (msg,) = await published(email_in.bus, 1)
    html = msg.email.sanitized_html
    for bad in ("<script", "onerror", "onclick", "track.example", "javascript:", "<img"):
        assert bad not in html
    assert "Hi" in html and msg.email.text.startswith("Hi")


async def test_oversized_mail_gets_552_and_nothing_is_published(email_in: Harness) -> None:
    def attempt() -> tuple[bytes, str]:
        with smtplib.SMTP("127.0.0.1", email_in.port, timeout=60) as smtp:
            _, banner = smtp.ehlo()
            try:
                smtp.sendmail("a@b.c", ["support@example.com"], mail("x" * (11 * 1024 * 1024)).as_bytes())
            except smtplib.SMTPException as exc:
                return banner, str(exc)
        return banner, "accepted"

    banner, outcome = await asyncio.to_thread(attempt)
    assert b"SIZE 10485760" in banner
    assert "552" in outcome
    assert await published(email_in.bus) == []


async def test_unknown_recipient_gets_550_and_we_never_relay(email_in: Harness) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as exc:
        await asyncio.to_thread(email_in.send, mail("hi"), "someone@gmail.com")
    assert exc.value.recipients["someone@gmail.com"][0] == 550


async def test_reply_threads_and_duplicate_message_id_makes_one_message(email_in: Harness) -> None:
    await asyncio.to_thread(email_in.send, mail("first", msgid="<root@example.cn>"))
    await asyncio.to_thread(email_in.send, mail("first", msgid="<root@example.cn>"))  # the sender's MTA retried
    await asyncio.to_thread(email_in.send, mail("second", msgid="<reply@example.cn>", In_Reply_To="<root@example.cn>",
                                                References="<root@example.cn>"))
    msgs = await published(email_in.bus, 2)
    assert [m.email.text for m in msgs] == ["first", "second"]
    assert msgs[0].thread_key == msgs[1].thread_key == "root@example.cn"


async def test_auto_replies_and_bounces_open_nothing(email_in: Harness) -> None:
    await asyncio.to_thread(email_in.send, mail("I am on leave", msgid="<ooo@x>", Auto_Submitted="auto-replied"))
    await asyncio.to_thread(email_in.send, mail("Delivery failed", msgid="<dsn@x>"), "support@example.com",
                            "MAILER-DAEMON@mx.example.cn")
    bounce = mail("Undeliverable", msgid="<b2@x>")
    bounce.replace_header("From", "Mail Delivery System <mailer-daemon@mx.example.cn>")
    await asyncio.to_thread(email_in.send, bounce)
    assert await published(email_in.bus) == []
    assert await email_in.store.mails.count_documents({"automated": {"$ne": ""}}) >= 2


class Sink:
    """An aiosmtpd sink that can answer 4xx or 5xx first."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.received: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.received.append(envelope)
        return "250 OK"


async def outbound_run(bus: Bus, mongo_url: str, mongo_db: str, replies: list[str], parent: str = "",
                       kind: messaging_pb2.OutboundKind.ValueType = messaging_pb2.OUTBOUND_KIND_REPLY,
                       cc: tuple[str, ...] = (), quoted: str = "",
                       attachments: tuple[contact_pb2.Attachment, ...] = ()) -> tuple[Sink, list[event_pb2.Event]]:
    sink = Sink(replies)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    store = MailStore(mongo_url, mongo_db)
    await store.setup()
    await store.record({"_id": "root@example.cn", "thread": "root@example.cn", "direction": "in", "to": "support@example.com",
                        "from": "li@example.cn", "subject": "订单问题"})
    if parent:  # our own earlier mail in the thread, as the latest one
        await store.record({"_id": parent, "thread": "root@example.cn", "direction": "out", "from": "support@example.com",
                            "to": "li@example.cn", "subject": "Re: 订单问题", "time": 4e9})
    sender = Sender(bus, store, CONFIG, EmailSettings(email_relay_host="127.0.0.1", email_relay_port=port))
    consumer = await bus.consume(stream=subjects.STREAM_CONTACTS_OUT, durable="email-outbound",
                                 subjects=[subjects.outbound(contact_pb2.CHANNEL_EMAIL)],
                                 message_type=messaging_pb2.OutboundMessage, handler=sender.deliver, max_deliver=3)
    out = messaging_pb2.OutboundMessage(
        id=new_id("out"), channel=contact_pb2.CHANNEL_EMAIL, conversation_id="cnv_e", thread_key="root@example.cn",
        identity=contact_pb2.Identity(channel=contact_pb2.CHANNEL_EMAIL, source_id="li@example.cn"),
        text="Your parcel <b>ships</b> today.", agent_display_name="Alice Chen", kind=kind, cc=cc,
        quoted_text=quoted, attachments=attachments)
    await bus.publish(subjects.outbound(out.channel), out, msg_id=out.id)
    got = await read_events(bus, "contacts.events.message.>", count=1, timeout=25)
    await consumer.stop()
    controller.stop()
    await store.close()
    return sink, got


async def test_outbound_threads_and_retries_4xx(bus: Bus, mongo_url: str, mongo_db: str) -> None:
    sink, got = await outbound_run(bus, mongo_url, mongo_db, ["451 4.3.0 try again later"])
    assert got and got[0].WhichOneof("kind") == "message_sent"
    (env,) = sink.received
    from email import message_from_bytes, policy

    sent = message_from_bytes(env.original_content or b"", policy=policy.default)
    assert sent["In-Reply-To"] == "<root@example.cn>" and "<root@example.cn>" in sent["References"]
    assert sent["Subject"] == "Re: 订单问题" and "Alice Chen" in sent["From"]
    assert sent.get_content_type() == "multipart/alternative"
    html_part, text_part = sent.get_body(("html",)), sent.get_body(("plain",))
    assert html_part is not None and text_part is not None
    assert "&lt;b&gt;ships&lt;/b&gt;" in html_part.get_content() and "Support team" in text_part.get_content()


async def test_outbound_cc_gets_a_copy_in_the_thread(bus: Bus, mongo_url: str, mongo_db: str) -> None:
    quoted = "On 2026-12-03 09:00 UTC, li@example.cn wrote:\n> Where is my <order>?"
    sink, got = await outbound_run(bus, mongo_url, mongo_db, [], cc=("boss@example.cn", "LI@example.cn", "boss@example.cn"),
                                   quoted=quoted)
    assert got[0].WhichOneof("kind") == "message_sent"
    (env,) = sink.received
    assert env.rcpt_tos == ["li@example.cn", "boss@example.cn"]  # the relay delivers to both, once each
    from email import message_from_bytes, policy

    sent = message_from_bytes(env.original_content or b"", policy=policy.default)
    assert sent["Cc"] == "boss@example.cn" and sent["To"] == "li@example.cn"
    assert sent["In-Reply-To"] == "<root@example.cn>" and sent["References"] == "<root@example.cn>"
    text_part, html_part = sent.get_body(("plain",)), sent.get_body(("html",))
    assert text_part is not None and html_part is not None
    plain = text_part.get_content().replace("\r\n", "\n")
    assert plain.index("ships") < plain.index("Support team") < plain.index(quoted)  # the quote under the signature
    assert "<blockquote" in html_part.get_content() and "&lt;order&gt;" in html_part.get_content()


async def test_outbound_5xx_is_a_permanent_failure(bus: Bus, mongo_url: str, mongo_db: str) -> None:
    sink, got = await outbound_run(bus, mongo_url, mongo_db, ["550 5.1.1 user unknown"])
    assert not sink.received
    failed = got[0].message_failed
    assert failed.permanent and failed.error_code == "550" and "user unknown" in failed.error_message


async def test_outbound_file_mail_cannot_carry_fails_with_its_rule_before_the_relay(
        bus: Bus, mongo_url: str, mongo_db: str) -> None:
    big = contact_pb2.Attachment(file_name="big.zip", content_type="application/zip", uri="http://127.0.0.1:9/big.zip",
                                 size_bytes=25 * 1024 * 1024 + 1)
    sink, got = await outbound_run(bus, mongo_url, mongo_db, [], attachments=(big,))
    failed = got[0].message_failed
    assert failed.permanent and failed.error_code == "channel_limit" and "25 MB" in failed.error_message
    assert not sink.received


async def test_reply_to_a_survey_email_is_an_answer_not_a_conversation(email_in: Harness) -> None:
    await email_in.store.record({"_id": "survey-1@example.com", "thread": "root@example.cn", "direction": "out",
                                 "survey_id": "srv_cnv_9", "question": "csat", "conversation_id": "cnv_9"})
    reply = mail("5\n\nThanks, great help!", msgid="<ans@example.cn>", In_Reply_To="<survey-1@example.com>")
    await asyncio.to_thread(email_in.send, reply)
    assert await published(email_in.bus) == []
    evt = (await read_events(email_in.bus, "survey_answered", count=1, timeout=5))[0]
    assert evt.survey_answered.score == 5 and evt.conversation_id == "cnv_9"


def raw_mail(from_header: bytes, msgid: bytes = b"<8bit@example.cn>", subject: bytes = b"hi") -> bytes:
    return (b"From: " + from_header + b"\r\nTo: support@example.com\r\nSubject: " + subject +
            b"\r\nMessage-ID: " + msgid + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n")


def send_raw(port: int, raw: bytes, smtputf8: bool = False) -> dict[str, Any]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        options = ["SMTPUTF8", "BODY=8BITMIME"] if smtputf8 else []
        return smtp.sendmail("li@example.cn", ["support@example.com"], raw, mail_options=options)


@pytest.mark.parametrize("smtputf8", [False, True])
async def test_8bit_display_names_are_accepted_and_decoded(email_in: Harness, smtputf8: bool) -> None:
    mails = [raw_mail("李雷 <li@example.cn>".encode(), b"<u8@example.cn>", "订单".encode()),
             raw_mail("王芳 <wang@example.cn>".encode("gbk"), b"<gbk8@example.cn>"),
             raw_mail(b"\xff\xfe\xfa <x@example.cn>", b"<junk8@example.cn>")]
    for raw in mails:
        assert await asyncio.to_thread(send_raw, email_in.port, raw, smtputf8) == {}
    msgs = await published(email_in.bus)
    assert [(m.display_name, m.identity.source_id) for m in msgs][:2] == [("李雷", "li@example.cn"),
                                                                          ("王芳", "wang@example.cn")]
    assert msgs[0].email.subject == "订单"
    assert len(msgs) == 3 and msgs[2].identity.source_id == "x@example.cn"  # undecodable bytes: replaced, kept


async def test_an_overlong_message_id_is_not_used_as_a_key(email_in: Harness) -> None:
    long_id = b"<" + b"a" * 900 + b"@example.cn>"  # SMTP lines stop at 1,000
    assert await asyncio.to_thread(send_raw, email_in.port, raw_mail(b"li@example.cn", long_id)) == {}
    (msg,) = await published(email_in.bus)
    assert msg.email.message_id.endswith("@omnihub") and len(msg.email.message_id) < 100


async def test_mail_that_cannot_be_turned_into_a_message_is_kept_and_dead_lettered(
        email_in: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise UnicodeEncodeError("utf-8", "\udcff", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(messaging_pb2, "InboundMessage", broken)  # what any unreadable field did before
    assert await asyncio.to_thread(send_raw, email_in.port, raw_mail(b"li@example.cn")) == {}
    sub = await email_in.bus.js.subscribe(subjects.deadletter(subjects.STREAM_CONTACTS_IN), ordered_consumer=True)
    dead = await sub.next_msg(timeout=5)
    await sub.unsubscribe()
    assert b"hello" in dead.data and "unreadable mail" in (dead.headers or {})[subjects.HEADER_DLQ_REASON]
    assert await email_in.store.get_file((dead.headers or {})["Omnihub-Raw-File"]) is not None


@pytest.mark.parametrize("file_id", ["x", "0" * 5_000, "ffffffffffffffffffffffff", "%00"])
async def test_an_attachment_id_of_any_shape_is_404(mongo_url: str, mongo_db: str, file_id: str) -> None:
    store = MailStore(mongo_url, mongo_db)
    app = web.Application()
    app[STORE_KEY] = store
    app.router.add_get("/attachments/{id}", attachment)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/attachments/{file_id}") as resp:
            assert resp.status == 404
    finally:
        await runner.cleanup()
        await store.close()


async def test_the_csat_survey_mail_threads_with_plain_message_ids(bus: Bus, mongo_url: str, mongo_db: str) -> None:
    parent = make_msgid(idstring="out_01a23c29e7c91ba9760e995f7aaa", domain="example.com").strip("<>")
    sink, got = await outbound_run(bus, mongo_url, mongo_db, [], parent=parent, kind=messaging_pb2.OUTBOUND_KIND_SURVEY)
    assert got and got[0].WhichOneof("kind") == "message_sent"
    (env,) = sink.received
    raw = env.original_content or b""
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert f"In-Reply-To: <{parent}>\r\n".encode() in head
    assert b"=?" not in b"".join(line for line in head.split(b"\r\n") if not line.startswith(b"Subject:"))
    from email import message_from_bytes, policy

    sent = message_from_bytes(raw, policy=policy.default)
    assert sent["In-Reply-To"] == f"<{parent}>"
    assert sent["References"].split() == ["<root@example.cn>", f"<{parent}>"]


async def test_attachment_ids_are_unguessable(mongo_url: str, mongo_db: str) -> None:
    store = MailStore(mongo_url, mongo_db)
    try:
        first = await store.put_file("a.txt", b"one", "text/plain")
        second = await store.put_file("b.txt", b"two", "text/plain")
        assert re.fullmatch(r"att_[0-9a-f]{44}", first) and re.fullmatch(r"att_[0-9a-f]{44}", second)
        tail_a, tail_b = first[16:], second[16:]  # after the millisecond: 128 random bits, not a counter
        assert sum(x == y for x, y in zip(tail_a, tail_b, strict=True)) < 16
        assert await store.get_file(first) == (b"one", "a.txt", "text/plain")
    finally:
        await store.close()


async def test_a_mail_an_erased_customer_wrote_before_the_erasure_is_not_kept_again(email_in: Harness) -> None:
    """The sender's server delivers his old mail again after his erasure: answered 250 (no retry) but neither stored
    nor published; a mail he writes after the erasure (or one without a readable Date) is a new contact."""
    from email.utils import format_datetime

    from omnihub.common.tombstones import Tombstones
    from omnihub.email.inbound import mail_date

    handler = InboundHandler(email_in.bus, email_in.store, CONFIG)
    erased = Tombstones(b"k" * 32)
    now = time.time()
    erased.add(erased.record("cus_li", ["email:li@example.cn"], [], now))
    handler.erased = erased
    port = free_port()
    server = await asyncio.get_running_loop().create_server(
        lambda: smtp_factory(handler, "omnihub.test", MAX), host="127.0.0.1", port=port)
    try:
        harness = Harness(email_in.bus, email_in.store, port)
        old = mail("my address is 1 Old Road", msgid="<old@example.cn>",
                   Date=format_datetime(dt.datetime.fromtimestamp(now - 3600, dt.UTC)))
        new = mail("back again", msgid="<new@example.cn>", Date=format_datetime(dt.datetime.fromtimestamp(now + 5, dt.UTC)))
        assert await asyncio.to_thread(harness.send, old) == {}  # accepted: the sending server stops retrying
        await asyncio.to_thread(harness.send, new)
        [msg] = await published(email_in.bus, 1)
        assert msg.email.text.strip() == "back again"
        assert await email_in.store.db["mails"].find_one({"_id": "old@example.cn"}) is None
        assert await email_in.store.db["mails"].find_one({"_id": "new@example.cn"}) is not None
        assert mail_date({}) == float("inf") and mail_date({"Date": "not a date"}) == float("inf")
    finally:
        server.close()
