"""Email replies: the Cc addresses a reply body accepts, and the quote of the customer's mail."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from omnihub.inbox.models import ReplyBody
from omnihub.inbox.quoting import quote


def test_cc_takes_plain_addresses_only() -> None:
    body = ReplyBody.model_validate({"text": "hi", "cc": [" boss@example.cn ", "a.b+c@mail.example.com"], "quote": True})
    assert body.cc == ["boss@example.cn", "a.b+c@mail.example.com"] and body.quote
    for bad in ("boss@example", "Li <li@example.cn>", "a@b.cn, c@d.cn", "a@b.cn\r\nBcc: x@y.cn", "@example.cn"):
        with pytest.raises(ValidationError):
            ReplyBody.model_validate({"text": "hi", "cc": [bad]})
    with pytest.raises(ValidationError):
        ReplyBody.model_validate({"text": "hi", "cc": [f"u{i}@example.cn" for i in range(11)]})


def test_the_quote_marks_every_line_under_an_attribution() -> None:
    doc = {"time": 1764752400.0, "text": "Where is my order?\n\n订单 77\n"}
    assert quote(doc, "Li Lei <li@example.cn>") == (
        "On 2025-12-03 09:00 UTC, Li Lei <li@example.cn> wrote:\n> Where is my order?\n>\n> 订单 77")


def test_the_attribution_line_is_the_agents_own_in_their_language() -> None:
    doc = {"time": 1764752400.0, "text": "在吗"}
    header = "Li Lei <li@example.cn> 于 2025年12月3日 17:00 写道："
    assert quote(doc, "Li Lei <li@example.cn>", header) == f"{header}\n> 在吗"
    body = ReplyBody.model_validate({"text": "hi", "quote": True, "quote_header": header})
    assert body.quote_header == header
    for bad in ("On x wrote:\r\nBcc: a@b.cn", "line\nbreak", "x" * 301):
        with pytest.raises(ValidationError):
            ReplyBody.model_validate({"text": "hi", "quote": True, "quote_header": bad})
