"""The SMTP server side: accept mail for our addresses only, within limits; publish it; never lose it."""

from __future__ import annotations

import logging
import math
import re
from email.utils import parsedate_to_datetime
from typing import Any

import nats.errors
from aiosmtpd.smtp import SMTP, Envelope, Session
from pymongo.errors import PyMongoError

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, new_event, new_id, now_timestamp
from omnihub.common.errors import BusError
from omnihub.common.logging import get_logger
from omnihub.common.tombstones import Tombstones
from omnihub.email.config import EmailConfig
from omnihub.email.parsing import ParsedMail, parse
from omnihub.email.store import MailStore

# aiosmtpd logs every SMTP command at INFO, customers' addresses included: keep its warnings only
logging.getLogger("mail.log").setLevel(logging.WARNING)

log = get_logger("omnihub.email")
EMAIL = contact_pb2.CHANNEL_EMAIL
# Our own trouble, not the mail's: the sender is asked to try again later.
TEMPORARY = (BusError, nats.errors.Error, PyMongoError, OSError, TimeoutError)


def mail_date(headers: dict[str, str]) -> float:
    """The mail's Date header in epoch seconds; a missing or unreadable one is never before anything (inf)."""
    try:
        return parsedate_to_datetime(headers.get("Date", "")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return math.inf


class InboundHandler:
    """aiosmtpd handler: RCPT checks recipients, DATA stores, parses and publishes."""

    def __init__(self, bus: Bus, store: MailStore, config: EmailConfig, max_recipients: int = 20,
                 max_attachment: int = 5 * 1024 * 1024) -> None:
        self.bus = bus
        self.store = store
        self.config = config
        self.max_recipients = max_recipients
        self.max_attachment = max_attachment
        self.erased: Tombstones | None = None  # erased customers (app.main): their old mails are not kept again

    async def _survey_answer(self, mail: ParsedMail, message_id: str) -> bool:
        """A reply to our survey email that starts with a score becomes a survey.answered event."""
        survey = await self.store.survey_for([mail.in_reply_to, *mail.references])
        if survey is None:
            return False
        first = next((line for line in mail.text.splitlines() if line.strip()), "")
        match = SCORE.match(first)
        low, high = (0, 10) if survey.get("question") == "nps" else (1, 5)
        if not match or not low <= int(match.group(1)) <= high:
            return False
        evt = new_event("email", conversation_id=survey.get("conversation_id", ""), channel=EMAIL,
                        identity=contact_pb2.Identity(channel=EMAIL, source_id=mail.from_address),
                        survey_answered=event_pb2.SurveyAnswered(survey_id=survey["survey_id"],
                                                                 question=survey.get("question", "csat"),
                                                                 score=int(match.group(1))))
        evt.id = f"evt_survey_{message_id}"
        await self.bus.publish_event(evt)
        return True

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        """550 for addresses we do not serve (we never relay); 452 past the recipient cap."""
        if self.config.mailbox(address) is None:
            return f"550 5.1.1 <{address}>: mailbox unavailable here; this server does not relay"
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the raw mail, then publish it; unreadable mail is still kept and dead-lettered.

        When NATS or MongoDB cannot take the mail now, the answer is a temporary 451, so the sending
        server tries again: never a permanent 5xx for our own trouble.
        """
        content = envelope.original_content or envelope.content or b""
        raw = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else bytes(content)
        rcpt = envelope.rcpt_tos[0].lower() if envelope.rcpt_tos else ""
        try:
            try:
                mail = parse(raw, self.max_attachment)
            except Exception as exc:  # nothing a customer sent is lost: keep it raw and dead-letter it
                return await self._dead_letter(raw, rcpt, f"unparseable mail: {exc!r}")
            try:
                return await self._accept(mail, raw, rcpt, envelope)
            except TEMPORARY:
                raise
            except Exception as exc:  # a mail we parsed but cannot turn into a message: kept, dead-lettered
                return await self._dead_letter(raw, rcpt, f"unreadable mail: {exc!r}")
        except TEMPORARY as exc:
            log.warning("email.cannot_queue", rcpt=rcpt, error=repr(exc))
            return "451 4.3.0 cannot queue the message now; try again later"

    async def _dead_letter(self, raw: bytes, rcpt: str, reason: str) -> str:
        """Keep the raw mail in GridFS and put it on the dead-letter subject with the reason."""
        raw_id = await self.store.put_file("unparsed.eml", raw, "message/rfc822", rcpt=rcpt)
        await self.bus.js.publish(subjects.deadletter(subjects.STREAM_CONTACTS_IN), raw[:1024 * 1024], headers={
            subjects.HEADER_DLQ_REASON: reason[:500],
            subjects.HEADER_DLQ_SUBJECT: subjects.inbound(EMAIL), subjects.HEADER_DLQ_STREAM: subjects.STREAM_CONTACTS_IN,
            "Omnihub-Raw-File": raw_id})
        log.warning("email.dead_lettered", rcpt=rcpt, reason=reason[:200], raw_file=raw_id)
        return "250 OK: queued"

    def _reply_all(self, mail: ParsedMail, rcpt: str) -> list[str]:
        """The mail's other recipients (To, then Cc) a reply-all copies: not the sender, not our own mailboxes."""
        skip = {mail.from_address, rcpt.lower(), ""}
        others = [a for a in mail.to_addresses + mail.cc_addresses
                  if a not in skip and "@" in a and self.config.mailbox(a) is None]
        return list(dict.fromkeys(others))[:10]  # a reply's Cc takes at most 10

    async def _accept(self, mail: ParsedMail, raw: bytes, rcpt: str, envelope: Envelope) -> str:
        """Record the mail, then publish it (or note it as automated, or as a survey answer)."""
        envelope_sender = (envelope.mail_from or "").strip("<>").lower()
        if not mail.automated and (not envelope_sender or envelope_sender.split("@")[0] in ("mailer-daemon", "postmaster")):
            mail.automated, mail.automated_reason = True, f"envelope sender <{envelope_sender}>"
        if self.erased is not None and self.erased.predates(EMAIL, mail.from_address, mail_date(mail.headers)):
            log.info("email.erased_sender", reason="a mail written before its sender was erased: not kept")
            return "250 OK: noted"  # sent again by the sender's server after the erasure: nothing of it comes back
        message_id = mail.message_id or f"{new_id('gen')}@omnihub"
        mailbox = self.config.mailbox(rcpt)
        fresh = await self.store.record({"_id": message_id, "thread": mail.thread_root or message_id, "direction": "in",
                                         "from": mail.from_address, "to": rcpt, "subject": mail.subject,
                                         "automated": mail.automated_reason})
        if mail.automated:
            log.info("email.automated", message_id=message_id, reason=mail.automated_reason)
            return "250 OK: noted"  # auto-replies and bounces never open a conversation or get a reply
        if await self._survey_answer(mail, message_id):
            return "250 OK: thank you"
        raw_id = await self.store.put_file(f"{message_id}.eml", raw, "message/rfc822") if fresh else ""
        attachments = []
        for a in mail.attachments:
            file_id = await self.store.put_file(a.file_name, a.data, a.content_type, message_id=message_id)
            attachments.append(contact_pb2.Attachment(file_name=a.file_name, content_type=a.content_type,
                                                      size_bytes=len(a.data), uri=f"gridfs://{file_id}"))
        headers = dict(mail.headers)
        if raw_id:
            headers["X-Omnihub-Raw"] = f"gridfs://{raw_id}"
        msg = messaging_pb2.InboundMessage(
            id=new_id("msg"), channel=EMAIL, identity=contact_pb2.Identity(channel=EMAIL, source_id=mail.from_address),
            thread_key=mail.thread_root or message_id, receive_time=now_timestamp(), provider_message_id=message_id,
            display_name=mail.from_name, recipient=rcpt,
            routing_hints=messaging_pb2.RoutingHints(queue=mailbox.queue if mailbox else "", entry_point=f"email:{rcpt}"),
            email=messaging_pb2.EmailPayload(subject=mail.subject, text=mail.text, sanitized_html=mail.sanitized_html,
                                             headers=headers, attachments=attachments, message_id=message_id,
                                             to_address=rcpt, reply_all_cc=self._reply_all(mail, rcpt)))
        await self.bus.publish(subjects.inbound(EMAIL), msg, msg_id=f"email:{message_id}")
        log.info("email.inbound", message_id=message_id, duplicate=not fresh, rcpt=rcpt)
        return "250 OK: queued"


SCORE = re.compile(r"^\s*(\d{1,2})(?!\d)")


def smtp_factory(handler: InboundHandler, hostname: str, max_size: int, tls_context: Any = None) -> SMTP:
    """An SMTP protocol instance announcing SIZE, answering 552 above it, STARTTLS when configured."""
    return SMTP(handler, hostname=hostname, data_size_limit=max_size, enable_SMTPUTF8=True, decode_data=False,
                tls_context=tls_context, require_starttls=False, ident="omnihub ESMTP")
