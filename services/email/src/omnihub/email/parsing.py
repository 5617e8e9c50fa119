"""Parse raw mail: every charset decoded, HTML sanitised, threading headers, auto-replies and bounces."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr

import nh3

# Mail often declares a narrower charset than it uses; decode with the superset.
CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
                   "big5": "big5hkscs", "x-big5": "big5hkscs", "ks_c_5601-1987": "cp949", "iso-8859-1": "cp1252",
                   "us-ascii": "utf-8", "ascii": "utf-8"}
KEPT_HEADERS = ("Message-ID", "In-Reply-To", "References", "Authentication-Results", "Auto-Submitted", "Precedence",
                "Date", "From", "To", "Cc", "Reply-To", "List-Id")
SAFE_TAGS = {"a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "hr", "i", "li", "ol", "p",
             "pre", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "u", "ul"}
_ID = re.compile(r"<([^<>\s]+)>")
MAX_MESSAGE_ID = 250  # longer ids are ignored: they become a NATS message id and a MongoDB key
MAX_REFERENCES = 50


@dataclass
class Attachment:
    """A file carried by the mail."""

    file_name: str
    content_type: str
    data: bytes


@dataclass
class ParsedMail:
    """What omnihub keeps of an email."""

    message_id: str
    in_reply_to: str
    references: list[str]
    subject: str
    from_address: str
    from_name: str
    to_addresses: list[str]
    text: str
    sanitized_html: str
    headers: dict[str, str]
    attachments: list[Attachment] = field(default_factory=list)
    automated: bool = False
    automated_reason: str = ""
    cc_addresses: list[str] = field(default_factory=list)

    @property
    def thread_root(self) -> str:
        """The first message of the thread: References[0], else In-Reply-To, else this message."""
        return (self.references[0] if self.references else "") or self.in_reply_to or self.message_id


def _ids(value: str | None) -> list[str]:
    """The msg-ids of a header that we can keep: printable ASCII, at most MAX_MESSAGE_ID characters."""
    found = [i for i in _ID.findall(value or "") if len(i) <= MAX_MESSAGE_ID and i.isascii() and i.isprintable()]
    return found[:MAX_REFERENCES]


def readable(value: str) -> str:
    """A header value with raw 8-bit bytes (which the parser keeps as surrogate escapes) decoded as UTF-8,
    else GB18030 or Big5-HKSCS, else with replacement characters: never a string protobuf refuses."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    raw = value.encode("utf-8", "surrogateescape")
    for charset in ("utf-8", "gb18030", "big5hkscs"):
        try:
            return raw.decode(charset)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


def _header(msg: EmailMessage, name: str) -> str:
    value = msg.get(name)
    return readable(str(value)) if value is not None else ""


def decode_part(part: Message) -> str:
    """A text part's content, decoding with the right (or a wider) charset and never failing."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload() or "")
    declared = (part.get_content_charset() or "utf-8").lower()
    charset = CHARSET_ALIASES.get(declared, declared)
    for candidate in (charset, "utf-8", "gb18030", "big5hkscs"):
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("utf-8", errors="replace")


def sanitize_html(html: str, allow_remote_images: bool = False) -> str:
    """HTML with no script, no event handlers, no remote (tracking) images; links open safely."""
    tags = SAFE_TAGS | ({"img"} if allow_remote_images else set())
    return nh3.clean(html, tags=tags, url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow",
                     attributes={"a": {"href", "title"}, "img": {"src", "alt"}, "td": {"colspan", "rowspan"}})


def html_to_text(html: str) -> str:
    """Plain text of an HTML body."""
    text = nh3.clean(re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>", "\n", html), tags=set())
    import html as html_lib

    return re.sub(r"\n{3,}", "\n\n", html_lib.unescape(text)).strip()


def detect_automated(msg: EmailMessage, from_address: str) -> str:
    """Why the mail is an auto-reply or bounce ('' when a person wrote it)."""
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = (msg.get("Precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"):
        if msg.get(header) and header != "X-Auto-Response-Suppress":
            return header
    local = from_address.split("@", 1)[0].lower()
    if local in ("mailer-daemon", "postmaster") or local.startswith("mailer-daemon"):
        return f"sender {from_address}"
    if msg.get_content_type() == "multipart/report":
        return "delivery status notification"
    if (msg.get("Return-Path") or "").strip() == "<>":
        return "null return path"
    return ""


def _sender(msg: EmailMessage) -> tuple[str, str]:
    """(display name, address) of From, via the header registry so encoded names decode."""
    header = msg.get("From")
    addresses = getattr(header, "addresses", ())
    if addresses:
        return readable(str(addresses[0].display_name)), readable(str(addresses[0].addr_spec))
    name, address = parseaddr(readable(str(header or "")))
    return name, address


def parse(raw: bytes, max_attachment: int = 5 * 1024 * 1024) -> ParsedMail:
    """Parse RFC 5322 bytes (policy.default); raises ValueError on mail that cannot be read at all."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    if not isinstance(msg, EmailMessage) or not msg.keys():
        raise ValueError("no headers: not an RFC 5322 message")
    from_name, from_address = _sender(msg)
    message_ids = _ids(str(msg.get("Message-ID", "")))
    text_parts: list[str] = []
    html_parts: list[str] = []
    attachments: list[Attachment] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        ctype = part.get_content_type()
        if disposition == "attachment" or (part.get_filename() and ctype not in ("text/plain", "text/html")):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes) and len(data) <= max_attachment:
                attachments.append(Attachment(readable(part.get_filename() or "attachment"), ctype, data))
            continue
        if ctype == "text/plain":
            text_parts.append(decode_part(part))
        elif ctype == "text/html":
            html_parts.append(decode_part(part))
    html = "\n".join(html_parts)
    text = "\n".join(text_parts).strip() or (html_to_text(html) if html else "")
    headers = {h: _header(msg, h) for h in KEPT_HEADERS if msg.get(h) is not None}
    reason = detect_automated(msg, from_address)
    return ParsedMail(
        message_id=message_ids[0] if message_ids else "", in_reply_to=(_ids(str(msg.get("In-Reply-To", ""))) or [""])[0],
        references=_ids(str(msg.get("References", ""))), subject=_header(msg, "Subject"),
        from_address=from_address.lower(), from_name=from_name,
        to_addresses=[a.lower() for _, a in getaddresses([readable(str(v)) for v in msg.get_all("To", [])])],
        text=text, sanitized_html=sanitize_html(html) if html else "", headers=headers, attachments=attachments,
        automated=bool(reason), automated_reason=reason,
        cc_addresses=[a.lower() for _, a in getaddresses([readable(str(v)) for v in msg.get_all("Cc", [])])])
