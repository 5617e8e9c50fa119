"""Mail headers we write: In-Reply-To and References as plain <msg-id> lists, never RFC 2047 encoded words."""

from __future__ import annotations

from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from email.policy import EmailPolicy, Policy
from typing import Any

MAX_MESSAGE_ID = 250  # a msg-id longer than this is not one we keep (RFC 5322 lines stop at 998)


class MessageIdListHeader(BaseHeader):
    """In-Reply-To / References (RFC 5322 3.6.4): msg-ids folded between ids only.

    The standard registry treats both as unstructured text, whose folding turns one long msg-id into
    `=?utf-8?q?=3C...?=`: mail clients then cannot thread the reply.
    """

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        """Keep the ids as given, whitespace collapsed (they are checked by `message_id_ok`)."""
        kwds["decoded"] = " ".join(value.split())
        kwds["parse_tree"] = None  # never used: fold() below writes the ids as they are

    def fold(self, *, policy: Policy[Message[str, str]]) -> str:
        """`Name: <a> <b>` folded before an id when a line would pass the policy's length."""
        name = str(self.name)
        limit = policy.max_line_length or 998
        lines: list[str] = []
        line = f"{name}:"
        for ident in str(self).split():
            if len(line) + 1 + len(ident) > limit and line != f"{name}:":
                lines.append(line)
                line = ""
            line += f" {ident}"
        lines.append(line)
        return str(policy.linesep).join(lines) + str(policy.linesep)


def message_id_ok(ident: str) -> bool:
    """True for an id we can write back in a header: printable ASCII, no spaces or brackets, bounded."""
    return (0 < len(ident) <= MAX_MESSAGE_ID and ident.isascii() and ident.isprintable()
            and not any(ch in ident for ch in " <>"))


def _policy() -> EmailPolicy[EmailMessage]:
    registry = HeaderRegistry()
    registry.map_to_type("in-reply-to", MessageIdListHeader)
    registry.map_to_type("references", MessageIdListHeader)
    return policy.default.clone(header_factory=registry)


OUTBOUND_POLICY = _policy()
