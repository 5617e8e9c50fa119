"""Which files each channel carries (MIME types and sizes): one table for the inbox and the channel services."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from omnihub.common.errors import PermanentChannelError

MB = 1024 * 1024
MAX_BYTES = 30 * MB  # the inbox's own ceiling for any file, any channel

PNG, JPEG, GIF, WEBP = "image/png", "image/jpeg", "image/gif", "image/webp"
PDF, TXT, CSV, ZIP = "application/pdf", "text/plain", "text/csv", "application/zip"
DOC, XLS = "application/msword", "application/vnd.ms-excel"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MP3, OGG, MP4 = "audio/mpeg", "audio/ogg", "video/mp4"

TELEGRAM_URL_MAX = 20 * MB  # a document Telegram fetches by URL; larger ones the chat service uploads
TELEGRAM_UPLOAD_MAX = 50 * MB  # a document uploaded to the Bot API (multipart/form-data)

# Every type the inbox accepts from an agent at all (the upload's first check).
ALLOWED_TYPES = frozenset({PNG, JPEG, GIF, WEBP, PDF, TXT, CSV, ZIP, DOC, XLS, DOCX, XLSX, MP3, OGG, MP4})


@dataclass(frozen=True, slots=True)
class Kind:
    """One way a channel carries files: how it is sent (`name`), of which types, up to how many bytes."""

    name: str  # photo | image | document | audio | video | file | link
    types: frozenset[str]
    max_bytes: int


@dataclass(frozen=True, slots=True)
class ChannelFiles:
    """What one channel carries; an empty `kinds` means no files at all."""

    channel: str
    kinds: tuple[Kind, ...]
    max_files: int = 5  # per message
    max_total: int = 0  # bytes of all files of one message; 0: no limit beyond each file's

    def kind(self, content_type: str) -> Kind | None:
        """The first kind that takes this type (the way the channel service sends it), or None."""
        return next((k for k in self.kinds if content_type in k.types), None)

    @property
    def types(self) -> frozenset[str]:
        """Every type this channel carries."""
        return frozenset().union(*(k.types for k in self.kinds))


@dataclass(frozen=True, slots=True)
class FileRefusal:
    """Why a channel cannot carry a file; `code` picks the desktop's translated message."""

    code: str  # no_files | channel_type | channel_limit | channel_count | channel_total
    message: str
    channel: str
    limit_bytes: int = 0
    allowed: tuple[str, ...] = ()


def _all(max_bytes: int) -> tuple[Kind, ...]:
    return (Kind("file", ALLOWED_TYPES, max_bytes),)


# Sources: Twilio "Accepted content types for media" (MMS: 5 MB for the whole message, up to 10 files; JPEG/PNG/GIF fully
# supported, PDF, CSV, MP3, OGG, MP4 accepted; no plain text, Office files, zip or WebP) and "Guidance on WhatsApp
# media messages" (16 MB, images JPEG/PNG only and 5 MB; audio OGG/MPEG; PDF, DOC, DOCX, XLSX; MP4; WebP is for
# stickers only; one file per message). Telegram Bot API: sendPhoto by URL 5 MB (JPEG/PNG), every other file is sent as a document:
# by URL up to 20 MB, uploaded (multipart, by the chat service) up to 50 MB.
# WeChat Official Accounts: customer-service image messages take uploaded media of PNG/JPEG/GIF up to 10 MB; they
# have no file message, so every other file goes as its link in a text (the inbox's 30 MB). Email: the 25 MB
# most relays take. Web chat: the visitor gets the link (30 MB). Voice carries no files.
FILE_RULES: dict[str, ChannelFiles] = {
    "email": ChannelFiles("email", _all(25 * MB)),
    "webchat": ChannelFiles("webchat", _all(MAX_BYTES)),
    "telegram": ChannelFiles("telegram", (Kind("photo", frozenset({JPEG, PNG}), 5 * MB),
                                          Kind("document", ALLOWED_TYPES, TELEGRAM_UPLOAD_MAX))),
    "sms": ChannelFiles("sms", (Kind("image", frozenset({JPEG, PNG, GIF}), 5 * MB),
                                Kind("file", frozenset({PDF, CSV, MP3, OGG, MP4}), 5 * MB)), max_total=5 * MB),
    "whatsapp": ChannelFiles("whatsapp", (Kind("image", frozenset({JPEG, PNG}), 5 * MB),
                                          Kind("audio", frozenset({OGG, MP3}), 16 * MB),
                                          Kind("document", frozenset({PDF, DOC, DOCX, XLSX}), 16 * MB),
                                          Kind("video", frozenset({MP4}), 16 * MB)), max_files=1),
    "wechat": ChannelFiles("wechat", (Kind("image", frozenset({PNG, JPEG, GIF}), 10 * MB),
                                      Kind("link", ALLOWED_TYPES, MAX_BYTES))),
    "voice": ChannelFiles("voice", ()),
}


def rules_for(channel: str) -> ChannelFiles:
    """The rules of a channel token (sms, whatsapp, ...); an unknown channel carries nothing."""
    return FILE_RULES.get(channel, ChannelFiles(channel, ()))


def largest(channel: str, content_type: str) -> int:
    """The largest file (bytes) `channel` carries of this type; 0: none."""
    kind = rules_for(channel).kind(content_type)
    return kind.max_bytes if kind else 0


def check_file(channel: str, content_type: str, size: int) -> FileRefusal | None:
    """None when `channel` carries this file, else why not (naming the channel and its rule)."""
    rules = rules_for(channel)
    name = channel or "this channel"
    if not rules.kinds:
        return FileRefusal("no_files", f"files cannot be sent on {name}", channel)
    kind = rules.kind(content_type)
    if kind is None:
        allowed = tuple(sorted(rules.types))
        return FileRefusal("channel_type", f"{name} cannot carry files of type {content_type or 'unknown'}; it "
                           f"takes {', '.join(allowed)}", channel, 0, allowed)
    if size > kind.max_bytes:
        return FileRefusal("channel_limit", f"{name} carries files of type {content_type} of at most "
                           f"{kind.max_bytes // MB} MB", channel, kind.max_bytes)
    return None


def check_message(channel: str, files: list[tuple[str, int]]) -> FileRefusal | None:
    """None when `channel` carries all these (content type, size) files in one message, else the first reason."""
    for content_type, size in files:
        if (refusal := check_file(channel, content_type, size)) is not None:
            return refusal
    rules = rules_for(channel)
    if len(files) > rules.max_files:
        return FileRefusal("channel_count", f"{channel} carries at most {rules.max_files} file(s) per message",
                           channel, rules.max_files)
    if rules.max_total and sum(size for _, size in files) > rules.max_total:
        return FileRefusal("channel_total", f"{channel} carries at most {rules.max_total // MB} MB of files per "
                           "message", channel, rules.max_total)
    return None


class FileLike(Protocol):
    """What the check reads of an attachment (the proto `Attachment` has both)."""

    @property
    def content_type(self) -> str: ...

    @property
    def size_bytes(self) -> int: ...


def refuse_unless_carried(channel: str, attachments: Iterable[FileLike]) -> None:
    """In a channel service's send: a permanent delivery error (code = the rule's) for files the channel cannot
    carry, so a message that slipped past the inbox fails with its reason instead of at the provider."""
    files = [(a.content_type, a.size_bytes) for a in attachments]
    if files and (refusal := check_message(channel, files)) is not None:
        raise PermanentChannelError(refusal.message, code=refusal.code)
