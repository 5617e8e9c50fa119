"""Attachment rules: signed links (expiry, tampering), ids, Content-Disposition, the channel rules as 4xx, and the table
the desktop reads (GET /api/file-rules)."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp import web

from omnihub.common.file_rules import ALLOWED_TYPES, FILE_RULES, MAX_BYTES, MB, check_file
from omnihub.inbox.attachments import check_fits, disposition
from omnihub.inbox.files import FileStore, attachment_id

from .conftest import login, running_inbox, users


def store() -> FileStore:
    return FileStore(None, b"k" * 32)  # type: ignore[arg-type]  # links need no database


def test_a_signed_link_works_until_it_expires_and_only_as_signed() -> None:
    files, att = store(), attachment_id("inbox://" + "a" * 32)
    link = files.link("http://inbox.example/", att, ttl=60, now=1000.0)
    query = dict(part.split("=", 1) for part in link.split("?", 1)[1].split("&"))
    assert link.startswith(f"http://inbox.example/files/{att}?")
    assert files.link_ok(att, query["e"], query["s"], now=1060.0)
    assert not files.link_ok(att, query["e"], query["s"], now=1061.0)  # expired
    assert not files.link_ok(att, str(int(query["e"]) + 1), query["s"], now=1000.0)  # expiry moved
    assert not files.link_ok(attachment_id("inbox://" + "b" * 32), query["e"], query["s"], now=1000.0)
    assert not files.link_ok(att, "1e9", query["s"], now=0.0)
    assert not FileStore(None, b"x" * 32).link_ok(att, query["e"], query["s"], now=1000.0)  # type: ignore[arg-type]


def test_ids_are_128_bits_of_the_reference() -> None:
    assert len(attachment_id("gridfs://att_1")) == 32
    assert attachment_id("gridfs://att_1") != attachment_id("gridfs://att_2")


def test_content_disposition_keeps_the_real_name_and_an_ascii_fallback() -> None:
    assert disposition("attachment", '收据 "a".pdf') == (
        "attachment; filename=\" a.pdf\"; filename*=UTF-8''%E6%94%B6%E6%8D%AE%20%22a%22.pdf")
    assert disposition("inline", "\r\nx.png").startswith('inline; filename="x.png"')


def test_each_channel_carries_what_its_provider_takes() -> None:
    check_fits("email", "application/pdf", 25 * MB)
    with pytest.raises(web.HTTPRequestEntityTooLarge):
        check_fits("email", "application/pdf", 25 * MB + 1)
    with pytest.raises(web.HTTPBadRequest):
        check_fits("voice", "image/png", 1)
    with pytest.raises(web.HTTPUnsupportedMediaType) as refused:
        check_fits("whatsapp", "image/gif", 1)
    body = json.loads(refused.value.text or "{}")
    assert body["code"] == "channel_type" and body["channel"] == "whatsapp" and "image/png" in body["allowed"]


async def test_every_desk_reads_the_table_the_uploads_are_refused_by(mongo_url: str, mongo_db: str) -> None:
    """GET /api/file-rules (any signed-in user, nobody else): the desktop checks a file against it before uploading,
    so it must say, for every channel and type, what check_file says."""
    jar = aiohttp.CookieJar(unsafe=True)  # the session cookie of an IP-address host
    async with running_inbox(mongo_url, mongo_db, users(("alice", "agent"))) as hub, \
            aiohttp.ClientSession(cookie_jar=jar) as http:
        assert (await http.get(f"{hub.base}/api/file-rules")).status == 401
        await login(http, hub.base, "alice")
        resp = await http.get(f"{hub.base}/api/file-rules")
        assert resp.status == 200
        table = await resp.json()
    assert table["max_bytes"] == MAX_BYTES and set(table["allowed_types"]) == ALLOWED_TYPES
    assert set(table["channels"]) == set(FILE_RULES)
    for channel, own in table["channels"].items():
        assert own["max_files"] == FILE_RULES[channel].max_files
        for content_type in sorted(ALLOWED_TYPES):
            kind = next((k for k in own["kinds"] if content_type in k["types"]), None)
            refusal = check_file(channel, content_type, 0)
            assert (kind is None) == (refusal is not None), (channel, content_type)
            if kind is not None:
                assert check_file(channel, content_type, kind["max_bytes"]) is None
                assert check_file(channel, content_type, kind["max_bytes"] + 1) is not None
