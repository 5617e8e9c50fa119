"""Replies out through aiosmtplib: multipart text + HTML, threaded, signed by agent and queue."""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

import aiohttp
import aiosmtplib

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common.bus import Bus, Delivery
from omnihub.common.errors import ChannelError, ErrorMap, PermanentChannelError, TransientChannelError
from omnihub.common.file_rules import refuse_unless_carried
from omnihub.common.outbound import deliver_outbound
from omnihub.common.retry import RetryPolicy
from omnihub.email.config import EmailConfig, EmailSettings
from omnihub.email.headers import OUTBOUND_POLICY, message_id_ok
from omnihub.email.store import MailStore

EMAIL = contact_pb2.CHANNEL_EMAIL
SURVEY_TEXT = ("How satisfied were you with our help? Reply to this email with a number from 1 (poor) "
               "to 5 (excellent).")
EMAIL_RETRY = RetryPolicy(first=5.0, cap=300.0)  # relays greylist for minutes: 5 s, 10 s ... 5 min
MAX_OUT_ATTACHMENT = 30 * 1024 * 1024  # the inbox's own limit; the channel's (25 MB) is checked at upload


class Sender:
    """Consumes contacts.outbound.email."""

    def __init__(self, bus: Bus, store: MailStore, config: EmailConfig, settings: EmailSettings) -> None:
        self.bus = bus
        self.store = store
        self.config = config
        self.settings = settings

    async def build(self, out: messaging_pb2.OutboundMessage) -> EmailMessage:
        """The MIME message: threading headers from the thread's latest mail, signature, escaped HTML."""
        latest = await self.store.latest_in_thread(out.thread_key) if out.thread_key else None
        mailbox_address = (latest or {}).get("to") or self.config.default_from
        if latest and latest.get("direction") == "out":
            mailbox_address = latest.get("from", mailbox_address)
        mailbox = self.config.mailbox(mailbox_address)
        team = (mailbox.display_name if mailbox else "") or "Support"
        sender_name = f"{out.agent_display_name} ({team})" if out.agent_display_name else team
        body = out.text or (SURVEY_TEXT if out.kind == messaging_pb2.OUTBOUND_KIND_SURVEY else "")
        signature = out.signature or (mailbox.signature if mailbox else "")
        footer = "\n".join(x for x in (out.agent_display_name, signature) if x)
        text = f"{body}\n\n-- \n{footer}" if footer else body
        if out.quoted_text:  # the thread below the signature, as mail programs quote it
            text = f"{text}\n\n{out.quoted_text}"
        msg = EmailMessage(policy=OUTBOUND_POLICY)
        msg["From"] = formataddr((sender_name, mailbox_address))
        msg["To"] = out.identity.source_id
        cc = [a for a in dict.fromkeys(out.cc) if a and a.lower() != out.identity.source_id.lower()]
        if cc:  # aiosmtplib.send takes the envelope recipients from To and Cc
            msg["Cc"] = ", ".join(cc)
        subject = out.subject or (latest or {}).get("subject", "") or "Your request"
        msg["Subject"] = subject if subject.lower().startswith("re:") or not latest else f"Re: {subject}"
        msg["Date"] = formatdate(localtime=False)
        domain = mailbox_address.rpartition("@")[2] or self.settings.email_hostname
        msg["Message-ID"] = make_msgid(idstring=out.id, domain=domain)
        parent = out.in_reply_to or ((latest or {}).get("_id", "") if latest else "")
        if parent and message_id_ok(parent):
            refs = [f"<{r}>" for r in out.references if message_id_ok(r)]
            if not refs and message_id_ok(out.thread_key):
                refs = [f"<{out.thread_key}>"]
            if f"<{parent}>" not in refs:
                refs.append(f"<{parent}>")
            msg["In-Reply-To"] = f"<{parent}>"
            msg["References"] = " ".join(refs)
        msg["Auto-Submitted"] = "auto-generated" if out.kind in (messaging_pb2.OUTBOUND_KIND_AUTO_REPLY,
                                                                  messaging_pb2.OUTBOUND_KIND_SURVEY) else "no"
        msg.set_content(text)
        paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in body.split("\n\n"))
        foot = f'<p style="color:#666">-- <br>{html.escape(footer).replace(chr(10), "<br>")}</p>' if footer else ""
        quoted = (f'<blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex">'
                  f'{html.escape(out.quoted_text).replace(chr(10), "<br>")}</blockquote>') if out.quoted_text else ""
        msg.add_alternative(f"<!doctype html><html><body>{paragraphs}{foot}{quoted}</body></html>", subtype="html")
        refuse_unless_carried("email", out.attachments)
        for att in out.attachments:
            data = await fetch_attachment(att.uri)
            maintype, _, subtype = (att.content_type or "application/octet-stream").partition("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=att.file_name or "attachment")
        return msg

    async def deliver(self, d: Delivery[messaging_pb2.OutboundMessage]) -> None:
        """Send through the common outbound path: SMTP 4xx and connection errors retry (EMAIL_RETRY),
        5xx is a permanent failure event."""
        out = d.message
        s = self.settings
        built: list[EmailMessage] = []

        async def send() -> str:
            msg = await self.build(out)  # in here: an attachment that cannot be fetched is a delivery error
            built.append(msg)
            await aiosmtplib.send(msg, hostname=s.email_relay_host, port=s.email_relay_port,
                                  start_tls=s.email_relay_starttls, use_tls=s.email_relay_tls,
                                  username=s.email_relay_username or None,
                                  password=s.email_relay_password.get_secret_value() or None, timeout=30)
            return str(msg["Message-ID"]).strip("<>")

        async def record(message_id: str) -> None:
            msg = built[-1]
            doc = {"_id": message_id, "thread": out.thread_key or message_id, "direction": "out",
                   "from": str(msg["From"]).rpartition("<")[2].rstrip(">"), "to": out.identity.source_id,
                   "subject": str(msg["Subject"])}
            if out.kind == messaging_pb2.OUTBOUND_KIND_SURVEY:
                doc |= {"survey_id": out.survey_id, "question": out.survey_question or "csat",
                        "conversation_id": out.conversation_id}
            await self.store.record(doc)

        await deliver_outbound(self.bus, d, send, source="email", policy=EMAIL_RETRY, errors=SMTP_ERRORS,
                               on_sent=record, channel=EMAIL)


async def fetch_attachment(uri: str) -> bytes:
    """The bytes of an outgoing attachment from its (signed) link; only links are carried on the bus."""
    if not uri.startswith(("https://", "http://")):
        raise PermanentChannelError(f"attachment {uri[:100]!r} is not a link the email service can fetch",
                                    code="media")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120, sock_connect=10)) as http, \
                http.get(uri) as resp:
            if resp.status >= 500:
                raise TransientChannelError(f"attachment link answered {resp.status}", code="media")
            if resp.status != 200:
                raise PermanentChannelError(f"attachment link answered {resp.status}", code="media")
            data = bytearray()
            async for chunk in resp.content.iter_chunked(256 * 1024):
                data += chunk
                if len(data) > MAX_OUT_ATTACHMENT:
                    raise PermanentChannelError("attachment larger than 30 MB", code="media")
            return bytes(data)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransientChannelError(f"cannot fetch attachment: {exc!r}", code="media") from exc


def smtp_reply(exc: aiosmtplib.SMTPResponseException) -> ChannelError:
    """A relay's 4xx asks us to try later; a 5xx refuses the message for good."""
    if 400 <= exc.code < 500:
        return TransientChannelError(f"SMTP {exc.code} {exc.message}", code=str(exc.code))
    return PermanentChannelError(exc.message, code=str(exc.code))


def unreachable(exc: BaseException) -> ChannelError:
    """The relay could not be reached or broke off: a retry can help."""
    return TransientChannelError(f"relay unreachable: {exc!r}", code="network")


SMTP_ERRORS: ErrorMap = {aiosmtplib.SMTPResponseException: smtp_reply, aiosmtplib.SMTPException: unreachable,
                         OSError: unreachable}
