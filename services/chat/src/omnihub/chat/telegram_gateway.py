"""TelegramAdapter: the Messenger implementation over python-telegram-bot."""

from __future__ import annotations

import datetime as dt
import hmac
import warnings
from collections.abc import Mapping
from typing import Any

import httpx
import telegram
import telegram.error
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.chat.messenger import Normalised, SendResult
from omnihub.common import subjects
from omnihub.common.bus import new_id, now_timestamp
from omnihub.common.errors import (
    ChannelError,
    ErrorMap,
    PermanentChannelError,
    RateLimitedError,
    TransientChannelError,
    map_exceptions,
)
from omnihub.common.file_rules import TELEGRAM_UPLOAD_MAX, TELEGRAM_URL_MAX, refuse_unless_carried, rules_for

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_ID = 2**63 - 1  # Telegram ids are 64-bit integers
MAX_NAME = 256
CHANNEL = contact_pb2.CHANNEL_TELEGRAM
TOKEN = subjects.channel_token(CHANNEL)
SURVEY_PREFIX = "sv"


def survey_callback(question: str, score: int, survey_id: str) -> str:
    """Callback data of one survey button (Telegram allows 64 bytes)."""
    return f"{SURVEY_PREFIX}|{question}|{score}|{survey_id}"[:64]


def parse_survey_callback(data: str) -> event_pb2.SurveyAnswered | None:
    """The survey answer in a button's callback data, or None."""
    parts = data.split("|")
    if len(parts) != 4 or parts[0] != SURVEY_PREFIX or not parts[2].isdigit():
        return None
    return event_pb2.SurveyAnswered(survey_id=parts[3], question=parts[1], score=int(parts[2]))


def telegram_id(value: object, field: str) -> int:
    """A Telegram id: a 64-bit integer (a string, a float or a bool is not one)."""
    if type(value) is not int or not -MAX_ID <= value <= MAX_ID:
        raise ValueError(f"{field} is not a 64-bit integer")
    return value


def _seconds(value: int | dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def map_telegram_error(exc: Exception) -> ChannelError:
    """Our ChannelError for a python-telegram-bot/httpx failure (Forbidden is permanent)."""
    if isinstance(exc, telegram.error.Forbidden):
        return PermanentChannelError(exc.message, code="403")
    if isinstance(exc, telegram.error.RetryAfter):
        with warnings.catch_warnings():  # PTB 22 warns that the type becomes timedelta
            warnings.simplefilter("ignore")
            after = _seconds(exc.retry_after)
        return RateLimitedError(str(exc), code="429", retry_after=after)
    if isinstance(exc, telegram.error.BadRequest):  # subclass of NetworkError: check first
        return PermanentChannelError(exc.message, code="400")
    if isinstance(exc, telegram.error.InvalidToken):
        return PermanentChannelError(str(exc), code="401")
    if isinstance(exc, telegram.error.NetworkError | httpx.HTTPError | OSError):
        return TransientChannelError(str(exc) or type(exc).__name__, code="network")
    if isinstance(exc, telegram.error.TelegramError):
        return TransientChannelError(exc.message, code="telegram")
    return TransientChannelError(str(exc) or type(exc).__name__, code="telegram")


TELEGRAM_ERRORS: ErrorMap = {telegram.error.TelegramError: map_telegram_error, httpx.HTTPError: map_telegram_error,
                             OSError: map_telegram_error}


class TelegramAdapter:
    """Verify, normalise and send Telegram traffic."""

    channel: int = CHANNEL

    def __init__(self, bot: telegram.Bot, webhook_secret: str, bot_username: str) -> None:
        self.bot = bot
        self._secret = webhook_secret.encode()
        self.bot_username = bot_username

    async def download(self, file_id: str, limit: int) -> bytes | None:
        """A customer's file by its file_id (getFile, then the file API); None when Telegram has no such file."""
        try:
            with map_exceptions(TELEGRAM_ERRORS):
                found = await self.bot.get_file(file_id)
                if found.file_size is not None and found.file_size > limit:
                    return None
                return bytes(await found.download_as_bytearray())
        except PermanentChannelError:
            return None

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Constant-time compare of the secret token header, whose name is matched in any case (HTTP/2
        proxies lower-case header names)."""
        wanted = SECRET_HEADER.lower()
        given = next((value for name, value in headers.items() if name.lower() == wanted), "")
        return bool(given) and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self._secret)

    def normalise(self, payload: dict[str, Any]) -> Normalised:
        """One update -> InboundMessage (text/photo/document/start/edit) or SurveyAnswered.

        Raises ValueError for an update that is not of Telegram's shape (ids are 64-bit integers).
        """
        telegram_id(payload.get("update_id"), "update_id")
        try:
            update = Update.de_json(payload, None)
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            raise ValueError(f"not a Telegram update: {exc!r}"[:200]) from None
        msg_id = f"{TOKEN}:{update.update_id}"
        if update.callback_query is not None:
            query = update.callback_query
            answer = parse_survey_callback(query.data or "")
            if answer is None:
                return Normalised(msg_id=msg_id)
            chat_id = str(telegram_id(query.message.chat.id if query.message else query.from_user.id, "chat.id"))
            return Normalised(
                survey=answer,
                msg_id=msg_id,
                thread_key=f"{TOKEN}:{chat_id}",
                identity_source=chat_id,
            )
        message = update.message or update.edited_message
        if message is None:
            return Normalised(msg_id=msg_id)
        chat_id = str(telegram_id(message.chat.id, "chat.id"))
        sender = message.from_user
        text = message.text or message.caption or ""
        payload_text = messaging_pb2.TextPayload(text=text)
        if update.edited_message is not None:
            payload_text.edited = True
            payload_text.edits_provider_message_id = str(message.message_id)
        if message.photo:
            best = max(message.photo, key=lambda p: p.width * p.height)
            payload_text.attachments.add(
                file_name=f"photo_{best.file_unique_id}.jpg",
                content_type="image/jpeg",
                size_bytes=best.file_size or 0,
                uri=f"telegram-file://{best.file_id}",
            )
        if message.document is not None:
            doc = message.document
            payload_text.attachments.add(
                file_name=doc.file_name or "document",
                content_type=doc.mime_type or "application/octet-stream",
                size_bytes=doc.file_size or 0,
                uri=f"telegram-file://{doc.file_id}",
            )
        inbound = messaging_pb2.InboundMessage(
            id=new_id("msg"),
            channel=CHANNEL,
            identity=contact_pb2.Identity(channel=CHANNEL, source_id=chat_id),
            thread_key=f"{TOKEN}:{chat_id}",
            receive_time=now_timestamp(),
            provider_message_id=str(update.update_id),
            display_name=sender.full_name[:MAX_NAME] if sender else "",
            recipient=self.bot_username,
            routing_hints=messaging_pb2.RoutingHints(entry_point=f"bot:{self.bot_username}"),
            text=payload_text,
        )
        if sender is not None and sender.language_code:
            inbound.routing_hints.language_code = sender.language_code
        return Normalised(
            inbound=inbound, msg_id=msg_id, thread_key=inbound.thread_key, identity_source=chat_id
        )

    async def acknowledge(self, payload: dict[str, Any]) -> None:
        """Answer a callback query so the button stops spinning, and drop the keyboard."""
        query = payload.get("callback_query")
        if not isinstance(query, dict):
            return
        try:
            await self.bot.answer_callback_query(str(query.get("id", "")), text="Thank you!")
            message = query.get("message") or {}
            chat = message.get("chat") or {}
            if chat.get("id") and message.get("message_id"):
                await self.bot.edit_message_reply_markup(
                    chat_id=chat["id"], message_id=message["message_id"], reply_markup=None
                )
        except telegram.error.TelegramError:
            pass  # cosmetic; the answer is already recorded

    async def send(self, message: messaging_pb2.OutboundMessage) -> SendResult:
        """Deliver text or a CSAT inline keyboard; raise ChannelError subclasses on failure."""
        chat_id = message.identity.source_id
        markup = None
        text = message.text
        if message.kind == messaging_pb2.OUTBOUND_KIND_SURVEY:
            question = message.survey_question or "csat"
            top = 10 if question == "nps" else 5
            low = 0 if question == "nps" else 1
            buttons = [
                InlineKeyboardButton(str(n), callback_data=survey_callback(question, n, message.survey_id))
                for n in range(low, top + 1)
            ]
            rows = [buttons[i : i + 6] for i in range(0, len(buttons), 6)]
            markup = InlineKeyboardMarkup(rows)
            text = text or "How satisfied were you with our service? (1 = poor, 5 = excellent)"
        refuse_unless_carried(TOKEN, message.attachments)
        sent = None
        with map_exceptions(TELEGRAM_ERRORS):
            if text or markup is not None or not message.attachments:
                sent = await self.bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)
            for att in message.attachments:
                ref = media_ref(att.uri)
                kind = rules_for(TOKEN).kind(att.content_type)
                if kind is not None and kind.name == "photo":
                    sent = await self.bot.send_photo(chat_id=chat_id, photo=ref)
                elif att.size_bytes > TELEGRAM_URL_MAX and ref.startswith(("https://", "http://")):
                    # Telegram fetches at most 20 MB by URL: a larger document is uploaded (up to 50 MB)
                    document = InputFile(await fetch_upload(ref), filename=att.file_name or "file")
                    sent = await self.bot.send_document(chat_id=chat_id, document=document)
                else:
                    sent = await self.bot.send_document(chat_id=chat_id, document=ref)
        assert sent is not None
        return SendResult(provider_message_id=str(sent.message_id))


async def fetch_upload(url: str) -> bytes:
    """A document's bytes from its (signed) link, to upload to Telegram; at most 50 MB."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=10.0)) as http, http.stream("GET", url) as resp:
        if resp.status_code != 200:
            raise PermanentChannelError(f"attachment {url} answered {resp.status_code}", code="media")
        data = bytearray()
        async for chunk in resp.aiter_bytes():
            data += chunk
            if len(data) > TELEGRAM_UPLOAD_MAX:
                raise PermanentChannelError("the document is larger than Telegram's 50 MB", code="channel_limit")
        return bytes(data)


def media_ref(uri: str) -> str:
    """What Telegram accepts for media: a file_id (from telegram-file://) or an https URL."""
    if uri.startswith("telegram-file://"):
        return uri.removeprefix("telegram-file://")
    if uri.startswith(("https://", "http://")):
        return uri
    raise PermanentChannelError(f"attachment {uri!r} is not reachable by Telegram", code="media")
