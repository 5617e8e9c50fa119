"""WeChatAdapter: the Messenger implementation for a WeChat Official Account (公众号) over customer-service messages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import mimetypes
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import nats.js.errors
import xmltodict
from nats.js.kv import KeyValue
from wechatpy.crypto import PrpCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.utils import WeChatSigner

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.chat.messenger import Normalised, SendResult
from omnihub.chat.wechat_api import MAX_MEDIA_BYTES, Media, WeChatApi
from omnihub.common import subjects
from omnihub.common.bus import kv_key, new_id, now_timestamp
from omnihub.common.errors import PermanentChannelError, TransientChannelError
from omnihub.common.file_rules import refuse_unless_carried, rules_for
from omnihub.common.logging import get_logger

log = get_logger("omnihub.chat.wechat")
CHANNEL = contact_pb2.CHANNEL_WECHAT
TOKEN = subjects.channel_token(CHANNEL)
WINDOW_SECONDS = 48 * 3600  # WeChat accepts customer-service messages for 48 h after the follower's last action
SURVEY_SECONDS = 48 * 3600
MAX_TEXT = 4000
MEDIA_URI = "wechat-media://"
_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DIGITS = re.compile(r"^\d{1,32}$")
_SCORE = re.compile(r"^\s*(\d{1,2})\s*[.!。！]?\s*$")
SURVEY_TEXT = {
    "csat": "您对本次服务满意吗？请回复 1（很差）到 5（很好）。\nHow satisfied were you with our help? Reply 1 (poor) to 5 (excellent).",
    "nps": "您有多大可能向朋友推荐我们？请回复 0 到 10。\nHow likely are you to recommend us to a friend? Reply 0-10.",
}


def sign(*parts: str) -> str:
    """WeChat's SHA1 over the sorted parts (token, timestamp, nonce[, encrypt])."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _xml(body: bytes) -> dict[str, Any]:
    """The <xml> element of a callback as a dict of strings; entities are refused (no XXE or bombs)."""
    try:
        doc = xmltodict.parse(body, disable_entities=True)
    except Exception as exc:  # expat's ExpatError, or ValueError for entities
        raise ValueError(f"not WeChat XML: {exc}") from None
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise ValueError("no <xml> element")
    return root


def _field(payload: dict[str, Any], name: str, limit: int = 2048) -> str:
    value = payload.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} is not text")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return value


class WeChatAdapter:
    """Verify and decrypt callbacks, normalise messages, send customer-service messages."""

    channel: int = CHANNEL

    def __init__(self, api: WeChatApi, callback_token: str, encoding_aes_key: str | None, state: KeyValue,
                 media_dir: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.api = api
        self._token = callback_token
        self._key = base64.b64decode(encoding_aes_key + "=") if encoding_aes_key else None
        self.state = state
        self.media_dir = media_dir
        self.clock = clock

    @property
    def safe_mode(self) -> bool:
        """True when callbacks must be AES-encrypted (an EncodingAESKey is configured)."""
        return self._key is not None

    # ---- inbound -----------------------------------------------------------------------------
    def check_signature(self, query: Mapping[str, str]) -> bool:
        """Constant-time check of `signature` = SHA1(sorted token, timestamp, nonce)."""
        expected = sign(self._token, query.get("timestamp", ""), query.get("nonce", ""))
        return _same(query.get("signature", ""), expected)

    def verify(self, meta: Mapping[str, str], body: bytes) -> bool:
        """`meta` is the callback's query string: `signature`, and in safe mode `msg_signature` over Encrypt."""
        if not self.check_signature(meta):
            return False
        if not self.safe_mode:
            return True
        if meta.get("encrypt_type") != "aes" or not meta.get("msg_signature"):
            return False  # safe mode: a plaintext callback is not WeChat's
        try:
            encrypt = _field(_xml(body), "Encrypt", 1 << 20)
        except ValueError:
            return False
        expected = sign(self._token, meta.get("timestamp", ""), meta.get("nonce", ""), encrypt)
        return bool(encrypt) and _same(meta["msg_signature"], expected)

    def open(self, meta: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """The verified callback's message as a dict (decrypted in safe mode); ValueError when unreadable."""
        payload = _xml(body)
        if self._key is None:
            return payload
        try:
            plain = PrpCrypto(self._key).decrypt(_field(payload, "Encrypt", 1 << 20), self.api.app_id)
        except InvalidAppIdException:
            raise ValueError("the message is for another Official Account") from None
        except Exception as exc:  # padding or base64 errors from a payload we cannot decrypt
            raise ValueError(f"cannot decrypt: {type(exc).__name__}") from None
        return _xml(plain.encode() if isinstance(plain, str) else bytes(plain))

    def normalise(self, payload: dict[str, Any]) -> Normalised:
        """One message or the subscribe event -> InboundMessage; other events -> nothing."""
        openid = _field(payload, "FromUserName", 64)
        if not _OPENID.match(openid):
            raise ValueError("FromUserName is not an OpenID")
        create_time = _field(payload, "CreateTime", 12)
        if not _DIGITS.match(create_time):
            raise ValueError("CreateTime is not a number")
        kind = _field(payload, "MsgType", 32).lower()
        recipient = _field(payload, "ToUserName", 64)
        thread_key = f"{TOKEN}:{openid}"
        if kind == "event":
            msg_id = f"{TOKEN}:{openid}:{create_time}"
            event = _field(payload, "Event", 64).lower()
            if event != "subscribe":
                return Normalised(msg_id=msg_id, thread_key=thread_key, identity_source=openid,
                                  opted_out=event == "unsubscribe")
            text = messaging_pb2.TextPayload(text="")
            provider_id = f"{openid}:{create_time}"
        else:
            raw_id = _field(payload, "MsgId", 32)
            if not _DIGITS.match(raw_id):
                raise ValueError("MsgId is not a number")
            msg_id, provider_id = f"{TOKEN}:{raw_id}", raw_id
            text = self._content(kind, payload, raw_id)
        inbound = messaging_pb2.InboundMessage(
            id=new_id("msg"),
            channel=CHANNEL,
            identity=contact_pb2.Identity(channel=CHANNEL, source_id=openid),
            thread_key=thread_key,
            receive_time=now_timestamp(),
            provider_message_id=provider_id,
            recipient=recipient,
            routing_hints=messaging_pb2.RoutingHints(entry_point=f"{TOKEN}:{recipient}"),
            text=text,
        )
        return Normalised(inbound=inbound, msg_id=msg_id, thread_key=thread_key, identity_source=openid)

    def _content(self, kind: str, payload: dict[str, Any], msg_id: str) -> messaging_pb2.TextPayload:
        out = messaging_pb2.TextPayload()
        media_id = _field(payload, "MediaId", 128)
        if kind == "text":
            out.text = _field(payload, "Content", MAX_TEXT)
        elif kind == "image":
            out.attachments.add(file_name=f"image_{msg_id}.jpg", content_type="image/jpeg", uri=MEDIA_URI + media_id)
        elif kind == "voice":
            out.text = _field(payload, "Recognition", MAX_TEXT)  # WeChat's speech recognition, when enabled
            fmt = (_field(payload, "Format", 16) or "amr").lower()
            out.attachments.add(file_name=f"voice_{msg_id}.{fmt}", content_type=f"audio/{fmt}",
                                uri=MEDIA_URI + media_id)
        elif kind in ("video", "shortvideo"):
            out.attachments.add(file_name=f"video_{msg_id}.mp4", content_type="video/mp4", uri=MEDIA_URI + media_id)
        elif kind == "location":
            label = _field(payload, "Label", 512)
            lat, lon = _field(payload, "Location_X", 32), _field(payload, "Location_Y", 32)
            out.text = f"📍 {label} ({lat}, {lon})".replace("  ", " ")
        elif kind == "link":
            parts = [_field(payload, "Title", 512), _field(payload, "Description", 2048), _field(payload, "Url", 2048)]
            out.text = "🔗 " + "\n".join(p for p in parts if p)
        else:
            raise ValueError(f"unsupported MsgType {kind!r}")
        if kind in ("image", "voice", "video", "shortvideo") and not media_id:
            raise ValueError("MediaId is missing")
        return out

    async def receive(self, payload: dict[str, Any]) -> Normalised:
        """Normalise, open the 48-hour window, and turn a bare score after a survey into its answer."""
        result = self.normalise(payload)
        openid = result.identity_source
        if result.opted_out:  # an unfollower cannot be messaged: close their window at once
            await self.state.delete(f"seen.{kv_key(openid)}")
            return result
        await self.state.put(f"seen.{kv_key(openid)}", str(self.clock()).encode())
        inbound = result.inbound
        if inbound is None:
            return result
        for att in inbound.text.attachments:
            await self.state.put(f"media.{kv_key(att.uri.removeprefix(MEDIA_URI))}", openid.encode())
        answer = await self._survey_answer(openid, inbound.text.text) if not inbound.text.attachments else None
        if answer is not None:
            survey, conversation_id = answer
            return Normalised(survey=survey, msg_id=result.msg_id, thread_key=result.thread_key,
                              identity_source=openid, conversation_id=conversation_id)
        return result

    async def _survey_answer(self, openid: str, text: str) -> tuple[event_pb2.SurveyAnswered, str] | None:
        m = _SCORE.match(text)
        if m is None:
            return None
        pending = await self._get_json(f"survey.{kv_key(openid)}")
        if not pending or self.clock() - float(pending.get("sent", 0)) > SURVEY_SECONDS:
            return None
        question = str(pending.get("question", "csat"))
        low, high = (0, 10) if question == "nps" else (1, 5)
        score = int(m.group(1))
        if not low <= score <= high:
            return None
        await self.state.delete(f"survey.{kv_key(openid)}")
        answer = event_pb2.SurveyAnswered(survey_id=str(pending.get("survey_id", "")), question=question, score=score)
        return answer, str(pending.get("conversation_id", ""))

    async def _get_json(self, key: str) -> dict[str, Any]:
        try:
            entry = await self.state.get(key)
        except nats.js.errors.KeyNotFoundError:
            return {}
        try:
            value = json.loads(entry.value or b"{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    async def acknowledge(self, payload: dict[str, Any]) -> None:
        """Nothing to do: the HTTP answer `success` is WeChat's acknowledgement."""

    # ---- media ---------------------------------------------------------------------------------------
    def _media_path(self, media_id: str) -> Path:
        return self.media_dir / hashlib.sha256(media_id.encode()).hexdigest()

    async def media(self, media_id: str) -> tuple[Path, str] | None:
        """A follower's media file, downloaded once through media/get and kept; None if never received."""
        path = self._media_path(media_id)
        meta = path.with_suffix(".type")
        if path.is_file() and meta.is_file():
            return path, meta.read_text()
        try:
            await self.state.get(f"media.{kv_key(media_id)}")
        except nats.js.errors.KeyNotFoundError:
            return None
        fetched = await self.api.media_get(media_id)
        self.media_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(fetched.data)
        meta.write_text(fetched.content_type)
        return path, fetched.content_type

    # ---- outbound ----------------------------------------------------------------------------------
    async def window_open(self, openid: str) -> bool:
        """True while the follower's last message or event is less than 48 hours old."""
        try:
            entry = await self.state.get(f"seen.{kv_key(openid)}")
        except nats.js.errors.KeyNotFoundError:
            return False
        try:
            return self.clock() - float((entry.value or b"0").decode()) < WINDOW_SECONDS
        except ValueError:
            return False

    async def send(self, message: messaging_pb2.OutboundMessage) -> SendResult:
        """Deliver text, images and files as customer-service messages inside the 48-hour window."""
        openid = message.identity.source_id
        if not await self.window_open(openid):
            raise PermanentChannelError(
                "WeChat allows replies only within 48 hours of the customer's last message; "
                "this customer has not written for longer, so the reply was not sent",
                code="window_closed",
            )
        text = message.text
        if message.kind == messaging_pb2.OUTBOUND_KIND_SURVEY:
            question = message.survey_question or "csat"
            text = text or SURVEY_TEXT.get(question, SURVEY_TEXT["csat"])
        refuse_unless_carried(TOKEN, message.attachments)
        bodies: list[dict[str, Any]] = []
        if text or not message.attachments:
            bodies.append({"touser": openid, "msgtype": "text", "text": {"content": text}})
        for att in message.attachments:
            bodies.append(await self._attachment(openid, att))
        for body in bodies:
            await self.api.custom_send(body)
        if message.kind == messaging_pb2.OUTBOUND_KIND_SURVEY:
            pending = {"survey_id": message.survey_id, "question": message.survey_question or "csat",
                       "conversation_id": message.conversation_id, "sent": self.clock()}
            await self.state.put(f"survey.{kv_key(openid)}", json.dumps(pending).encode())
        return SendResult(provider_message_id=f"{TOKEN}:{message.id}")

    async def _attachment(self, openid: str, att: contact_pb2.Attachment) -> dict[str, Any]:
        """An image as an image message (re-uploaded when it is a URL); other files as a link in a text."""
        kind = rules_for(TOKEN).kind(att.content_type)
        is_image = kind is not None and kind.name == "image"
        if att.uri.startswith(MEDIA_URI) and is_image:
            return {"touser": openid, "msgtype": "image", "image": {"media_id": att.uri.removeprefix(MEDIA_URI)}}
        if urlparse(att.uri).scheme not in ("http", "https"):
            raise PermanentChannelError(f"attachment {att.uri!r} is not reachable by WeChat", code="media")
        if not is_image:
            # Official Accounts have no file message: the customer gets the file's link.
            return {"touser": openid, "msgtype": "text", "text": {"content": f"📎 {att.file_name or 'file'}: {att.uri}"}}
        media = await self._download(att.uri)
        # WeChat reads an upload's type from its file name: keep the name only with the type's own extension.
        ext = mimetypes.guess_extension(media.content_type) or ".jpg"
        name = att.file_name if att.file_name.lower().endswith((ext, ".jpeg" if ext == ".jpg" else ext)) else f"image{ext}"
        media_id = await self.api.media_upload("image", name, media.data, media.content_type)
        return {"touser": openid, "msgtype": "image", "image": {"media_id": media_id}}

    async def _download(self, url: str) -> Media:
        try:
            resp = await self.api.http.get(url)
        except httpx.HTTPError as exc:
            raise TransientChannelError(f"cannot fetch attachment: {exc!r}", code="media") from exc
        if resp.status_code != 200 or len(resp.content) > MAX_MEDIA_BYTES:
            raise PermanentChannelError(f"attachment {url} answered {resp.status_code}", code="media")
        return Media(resp.content, resp.headers.get("Content-Type", "image/jpeg").split(";")[0])
