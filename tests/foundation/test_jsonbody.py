"""The shared JSON body reader: depth counted without recursion, brackets inside strings ignored."""

from __future__ import annotations

import pytest
from aiohttp import web
from pydantic import Field

from omnihub.common.jsonbody import Body, nesting_depth, parse_body


class Note(Body):
    text: str = Field(max_length=10)
    tags: list[str] = []


def test_depth_ignores_brackets_inside_strings() -> None:
    assert nesting_depth(b'{"a": "[[[[{{{\\"[[", "b": [[1]]}', 10) == 3
    assert nesting_depth(b"[" * 100_000 + b"]" * 100_000, 32) == 33  # stops just past the limit


def refused(raw: bytes, status: type[web.HTTPException] = web.HTTPBadRequest, **limits: int) -> str:
    with pytest.raises(status) as caught:
        parse_body(raw, Note, **limits)
    return caught.value.text or ""


def test_parse_body_limits() -> None:
    assert parse_body(b'{"text": "hi", "tags": ["]"], "extra": {}}', Note) == Note(text="hi", tags=["]"])
    assert "nested deeper than 3" in refused(b'{"text": "x", "tags": [[[["a"]]]]}', max_depth=3)
    refused(b'{"text": "' + b"x" * 100 + b'"}', web.HTTPRequestEntityTooLarge, max_bytes=50)
    assert "text: String should have at most 10 characters" in refused(b'{"text": "' + b"x" * 11 + b'"}')
    assert "tags.1: Input should be a valid string" in refused(b'{"text": "x", "tags": ["a", 2]}')
    assert "surrogate" in refused(b'{"text": "\\udc00"}')
    assert "body: Input should be an object" in refused(b"[1]")
