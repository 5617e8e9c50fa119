"""Attachments: agents upload files for a reply, open customers' files (authenticated), and providers fetch signed links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
from aiohttp import BodyPartReader, web
from pydantic import BaseModel, Field

from omnihub.api.contact.v1 import contact_pb2
from omnihub.common import subjects
from omnihub.common.file_rules import (
    ALLOWED_TYPES,
    FILE_RULES,
    MAX_BYTES,
    FileRefusal,
    check_file,
    check_message,
    largest,
)
from omnihub.common.openapi import Operation
from omnihub.inbox.auth import SESSION
from omnihub.inbox.files import INBOX_SCHEME, FileStore, TooLarge

if TYPE_CHECKING:
    from omnihub.api.routing.v1 import routing_pb2
    from omnihub.inbox.api import Inbox

MAX_FILES = 5  # per reply
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})  # raster images preview inline
FILE_CSP = "default-src 'none'; sandbox"


class AttachmentRef(BaseModel):
    """An uploaded file, ready to go with a reply (`attachments` of the reply body names its `id`)."""

    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    file_name: str
    content_type: str
    size_bytes: int


class AttachmentRefused(BaseModel):
    """Why an upload was refused; `code` picks the desktop's message (both languages)."""

    code: str  # too_large | too_many | type | bad_request, or a channel's rule: no_files | channel_type | channel_limit | ...
    message: str
    limit_bytes: int = 0
    channel: str = ""
    allowed: list[str] = Field(default_factory=list, description="the types the channel carries (channel_type)")


class FileKindRule(BaseModel):
    """One way a channel carries files: how it is sent, of which types, up to how many bytes each."""

    name: str = Field(description="photo | image | document | audio | video | file | link")
    types: list[str]
    max_bytes: int


class ChannelFileRules(BaseModel):
    """What one channel carries; no kinds: no files at all. A file takes the first kind that lists its type."""

    kinds: list[FileKindRule]
    max_files: int = Field(description="files per message")
    max_total: int = Field(description="bytes of all files of one message; 0: no limit beyond each file's")


class FileRules(BaseModel):
    """The table the inbox and the channel services refuse files by, so the desktop says why before uploading."""

    max_bytes: int = Field(description="the inbox keeps no file larger, on any channel")
    max_files: int = Field(description="files per reply")
    allowed_types: list[str] = Field(description="every type the inbox accepts at all")
    channels: dict[str, ChannelFileRules] = Field(description="by channel token (sms, whatsapp, email, ...)")


RULES = FileRules(
    max_bytes=MAX_BYTES, max_files=MAX_FILES, allowed_types=sorted(ALLOWED_TYPES),
    channels={channel: ChannelFileRules(kinds=[FileKindRule(name=k.name, types=sorted(k.types), max_bytes=k.max_bytes)
                                               for k in rules.kinds],
                                        max_files=rules.max_files, max_total=rules.max_total)
              for channel, rules in FILE_RULES.items()}).model_dump_json()

OPERATIONS = [
    Operation("GET", "/api/file-rules", "Which files each channel carries (types, sizes, files per message): the "
              "uploads' own rules, for saying why before a file is sent", response=FileRules, tags=("attachments",)),
    Operation("POST", "/api/conversations/{id}/attachments",
              "Upload a file (multipart field `file`, at most 30 MB and the channel's limit) for a reply; "
              "`with` (repeated) names the files already attached to it, so the channel's per-message rules apply",
              response=AttachmentRef, tags=("attachments",)),
    Operation("GET", "/api/attachments/{id}", "Open an attachment of a conversation I may see (a download; raster "
              "images inline)", tags=("attachments",)),
]


def refused(status: int, code: str, message: str, limit: int = 0, channel: str = "",
            allowed: tuple[str, ...] = ()) -> web.HTTPException:
    """A 4xx whose JSON body the desktop turns into a message in the user's language."""
    body = AttachmentRefused(code=code, message=message, limit_bytes=limit, channel=channel,
                             allowed=list(allowed)).model_dump_json()
    kind = {400: web.HTTPBadRequest, 415: web.HTTPUnsupportedMediaType}.get(status)
    if kind is None:  # 413 wants the limits it names
        return web.HTTPRequestEntityTooLarge(max(limit, 0), MAX_BYTES + 1, text=body, content_type="application/json")
    return kind(text=body, content_type="application/json")


STATUS = {"no_files": 400, "channel_type": 415, "channel_count": 400}  # else 413


def as_http(refusal: FileRefusal) -> web.HTTPException:
    """A channel rule's refusal as the 4xx the desktop reads."""
    return refused(STATUS.get(refusal.code, 413), refusal.code, refusal.message, refusal.limit_bytes,
                   refusal.channel, refusal.allowed)


def check_fits(channel: str, content_type: str, size: int) -> None:
    """Refuse (4xx) a file the channel cannot carry (its type or its size), by the shared table."""
    if (refusal := check_file(channel, content_type, size)) is not None:
        raise as_http(refusal)


def disposition(kind: str, name: str) -> str:
    """Content-Disposition with an ASCII fallback name and the real one in RFC 5987 form."""
    ascii_name = "".join(c for c in name if c.isascii() and (c.isalnum() or c in "._- "))[:120] or "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name[:200], safe='')}"


@dataclass
class Sources:
    """Where the bytes of each kind of reference are fetched from (the inbox never keeps a copy)."""

    email_url: str = "http://127.0.0.1:8084"  # gridfs://<id>: the email service's stored attachments
    chat_url: str = "http://127.0.0.1:8081"  # /widget/uploads/<name>, telegram-file://, wechat-media://
    twilio_base: str = "https://api.twilio.com"  # MMS media URLs under it, fetched with the account's key
    twilio_sid: str = ""
    twilio_token: str = ""
    service_bearer: str = ""  # the deployment's service token: the chat service hands out Telegram files for it

    def locate(self, uri: str) -> tuple[str, aiohttp.BasicAuth | None, dict[str, str]] | None:
        """(URL, auth, headers) to fetch a reference, or None for one the inbox must not fetch (no open proxy)."""
        chat = self.chat_url.rstrip("/")
        if uri.startswith("gridfs://"):
            return f"{self.email_url.rstrip('/')}/attachments/{quote(uri.removeprefix('gridfs://'), safe='')}", None, {}
        if uri.startswith("/widget/uploads/"):
            return f"{chat}/widget/uploads/{quote(uri.removeprefix('/widget/uploads/'), safe='')}", None, {}
        if uri.startswith("telegram-file://"):
            return (f"{chat}/telegram/files/{quote(uri.removeprefix('telegram-file://'), safe='')}", None,
                    {"Authorization": self.service_bearer})
        if uri.startswith("wechat-media://"):
            return f"{chat}/wechat/media/{quote(uri.removeprefix('wechat-media://'), safe='')}", None, {}
        twilio = self.twilio_base.rstrip("/") + "/"
        if self.twilio_sid and uri.startswith(twilio):
            return uri, aiohttp.BasicAuth(self.twilio_sid, self.twilio_token), {}
        return None


class Attachments:
    """The routes; `inbox.files` stores uploads and references."""

    def __init__(self, inbox: Inbox, sources: Sources) -> None:
        self.inbox = inbox
        self.sources = sources
        self.http: aiohttp.ClientSession | None = None

    @property
    def files(self) -> FileStore:
        return self.inbox.files

    async def rules(self, _request: web.Request) -> web.Response:
        """GET /api/file-rules: the channels' file rules (any signed-in user)."""
        return web.Response(text=RULES, content_type="application/json")

    async def upload(self, request: web.Request) -> web.Response:
        """POST /api/conversations/{id}/attachments: store one file for a reply on this conversation."""
        s = request[SESSION]
        conv = await self.inbox._conversation(s, request.match_info["id"])
        channel = subjects.channel_token(conv.channel) if conv.channel else ""
        if request.content_length is not None and request.content_length > MAX_BYTES + 64 * 1024:
            raise refused(413, "too_large", "the file is larger than 30 MB", MAX_BYTES, channel)
        try:
            reader = await request.multipart()
            part = await reader.next()
        except (ValueError, AssertionError, KeyError):
            raise refused(400, "bad_request", "multipart/form-data with a field 'file' expected") from None
        if not isinstance(part, BodyPartReader) or part.name != "file":
            raise refused(400, "bad_request", "multipart/form-data with a field 'file' expected")
        content_type = (part.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in ALLOWED_TYPES:
            raise refused(415, "type", f"files of type {content_type or 'unknown'} are not accepted")
        check_fits(channel, content_type, 0)
        others = await self._pending(request, conv.id)  # the reply's files so far: the message's rules apply early
        if (refusal := check_message(channel, [*others, (content_type, 0)])) is not None:
            raise as_http(refusal)
        limit = min(largest(channel, content_type), MAX_BYTES)  # the inbox keeps nothing over 30 MB
        if request.content_length is not None and request.content_length > limit + 64 * 1024:
            check_fits(channel, content_type, request.content_length)

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await part.read_chunk(256 * 1024):
                yield chunk

        name = (part.filename or "file").replace("\x00", "")[:200]
        try:
            stored = await self.files.put(chunks(), max(limit, 0), file_name=name, content_type=content_type,
                                          conversation_id=conv.id, customer_id=conv.customer_id, uploader=s.user)
        except TooLarge:
            if limit >= MAX_BYTES:
                raise refused(413, "too_large", "the file is larger than 30 MB", MAX_BYTES, channel) from None
            check_fits(channel, content_type, limit + 1)
            raise
        if (refusal := check_message(channel, [*others, (content_type, stored.size_bytes)])) is not None:
            await self.files.discard(stored)  # too much in all for one message (MMS: 5 MB)
            raise as_http(refusal)
        return web.json_response(AttachmentRef(id=stored.id, file_name=stored.file_name,
                                               content_type=stored.content_type,
                                               size_bytes=stored.size_bytes).model_dump())

    async def _pending(self, request: web.Request, conversation_id: str) -> list[tuple[str, int]]:
        """(type, size) of the uploads named by `?with=<id>` (the files already attached to the coming reply)."""
        ids = list(dict.fromkeys(request.query.getall("with", [])))
        if len(ids) >= MAX_FILES:
            raise refused(400, "too_many", f"at most {MAX_FILES} files go with one reply", MAX_FILES)
        found = []
        for att_id in ids:
            ref = await self.files.ref(att_id)
            if ref is None or ref.get("conversation_id") != conversation_id:
                raise refused(400, "bad_request", f"attachment {att_id} was not uploaded to this conversation")
            found.append((str(ref.get("content_type", "")), int(ref.get("size_bytes", 0))))
        return found

    async def outgoing(self, conv: routing_pb2.Conversation, ids: list[str], public_url: str, ttl: float
                       ) -> tuple[list[contact_pb2.Attachment], list[contact_pb2.Attachment]]:
        """The reply's files: as the message keeps them (inbox:// references) and as the channel fetches them
        (signed public links); 400 for a file not uploaded to this conversation or one the channel cannot carry."""
        kept, sent = [], []
        channel = subjects.channel_token(conv.channel) if conv.channel else ""
        for att_id in dict.fromkeys(ids):
            ref = await self.files.ref(att_id)
            if ref is None or ref.get("conversation_id") != conv.id or not str(ref.get("uri")).startswith(INBOX_SCHEME):
                raise web.HTTPBadRequest(text=f"attachment {att_id} was not uploaded to this conversation")
            fields: dict[str, Any] = {"file_name": ref["file_name"], "content_type": ref["content_type"],
                                      "size_bytes": int(ref["size_bytes"])}
            kept.append(contact_pb2.Attachment(uri=ref["uri"], **fields))
            sent.append(contact_pb2.Attachment(uri=self.files.link(public_url, att_id, ttl), **fields))
        if (refusal := check_message(channel, [(a.content_type, a.size_bytes) for a in kept])) is not None:
            raise as_http(refusal)
        return kept, sent

    async def may_see(self, s: Any, ref: dict[str, Any]) -> bool:
        """Supervisors and admins: every file; an agent: files of conversations (and customers) they hold or held."""
        if s.role != "agent":
            return True
        cid = str(ref.get("conversation_id", ""))
        if self.inbox.hub.holder.get(cid) == s.user or await self.inbox.store.has_held(s.user, conversation_id=cid):
            return True
        return await self.inbox._served(s.user, str(ref.get("customer_id", "")))

    async def download(self, request: web.Request) -> web.StreamResponse:
        """GET /api/attachments/{id}: the file, as a download (raster images inline), never sniffed or run."""
        ref = await self.files.ref(request.match_info["id"])
        if ref is None:
            raise web.HTTPNotFound(text="no such attachment")
        if not await self.may_see(request[SESSION], ref):
            raise web.HTTPForbidden(text="this attachment is not in a conversation of yours")
        inline = ref.get("content_type") in INLINE_TYPES and request.query.get("download") != "1"
        return await self._serve(request, ref, "inline" if inline else "attachment")

    async def public(self, request: web.Request) -> web.StreamResponse:
        """GET /files/{id}?e=&s=: an agent's upload for a provider or a customer, while its signed link lasts."""
        att_id = request.match_info["id"]
        if not self.files.link_ok(att_id, request.query.get("e", ""), request.query.get("s", "")):
            raise web.HTTPForbidden(text="this link is wrong or has expired")
        ref = await self.files.ref(att_id)
        if ref is None or not str(ref.get("uri")).startswith(INBOX_SCHEME):
            raise web.HTTPNotFound(text="no such file")
        return await self._serve(request, ref, "attachment")

    async def _serve(self, request: web.Request, ref: dict[str, Any], kind: str) -> web.StreamResponse:
        uri = str(ref.get("uri", ""))
        ctype = str(ref.get("content_type") or "")
        headers = {"Content-Disposition": disposition(kind, str(ref.get("file_name") or "attachment")),
                   "X-Content-Type-Options": "nosniff", "Content-Security-Policy": FILE_CSP,
                   "Cache-Control": "private, max-age=300"}
        if uri.startswith(INBOX_SCHEME):
            chunks = await self.files.open(uri)
            if chunks is None:
                raise web.HTTPNotFound(text="the file is no longer stored")
            return await self._stream(request, chunks, ctype, headers)
        where = self.sources.locate(uri)
        if where is None:
            raise web.HTTPNotFound(text="this attachment cannot be opened here")
        if self.http is None:
            self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120, sock_connect=5))
        url, auth, fetch_headers = where
        try:
            async with self.http.get(url, auth=auth, headers=fetch_headers) as upstream:
                if upstream.status == 404:
                    raise web.HTTPNotFound(text="the file is no longer stored")
                if upstream.status != 200:
                    raise web.HTTPBadGateway(text=f"the file's store answered {upstream.status}")
                ctype = ctype or upstream.content_type

                async def relay() -> AsyncIterator[bytes]:
                    async for chunk in upstream.content.iter_chunked(256 * 1024):
                        yield chunk

                return await self._stream(request, relay(), ctype, headers)
        except (aiohttp.ClientError, TimeoutError):
            raise web.HTTPServiceUnavailable(text="the file's store is unavailable") from None

    async def _stream(self, request: web.Request, chunks: AsyncIterator[bytes], ctype: str,
                      headers: dict[str, str]) -> web.StreamResponse:
        resp = web.StreamResponse(headers=headers)
        resp.content_type = ctype if ctype in ALLOWED_TYPES else "application/octet-stream"
        await resp.prepare(request)
        async for chunk in chunks:
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def close(self) -> None:
        """Close the HTTP client."""
        if self.http is not None:
            await self.http.close()


def register(router: web.UrlDispatcher, attachments: Attachments) -> None:
    """Upload, download and the signed public link."""
    router.add_get("/api/file-rules", attachments.rules)
    router.add_post("/api/conversations/{id}/attachments", attachments.upload)
    router.add_get("/api/attachments/{id}", attachments.download)
    router.add_get("/files/{id}", attachments.public)
