"""The shared per-channel file table: a refused and an accepted type per channel, sizes, counts and totals."""

from __future__ import annotations

import pytest

from omnihub.common.file_rules import MB, check_file, check_message, largest, rules_for

# channel, an accepted type, its limit, a refused type (None: every allowed type is carried)
CASES = [
    ("sms", "image/jpeg", 5 * MB, "text/plain"),
    ("sms", "application/pdf", 5 * MB, "image/webp"),
    ("whatsapp", "image/png", 5 * MB, "image/gif"),
    ("whatsapp", "application/pdf", 16 * MB, "text/plain"),
    ("whatsapp", "video/mp4", 16 * MB, "application/zip"),
    ("telegram", "image/jpeg", 5 * MB, None),
    ("telegram", "application/zip", 50 * MB, None),  # by URL up to 20 MB, uploaded above
    ("wechat", "image/gif", 10 * MB, None),
    ("wechat", "application/pdf", 30 * MB, None),
    ("email", "application/zip", 25 * MB, None),
    ("webchat", "application/pdf", 30 * MB, None),
]


@pytest.mark.parametrize(("channel", "accepted", "limit", "refused"), CASES)
def test_each_channel_takes_its_types_up_to_its_size(channel: str, accepted: str, limit: int,
                                                      refused: str | None) -> None:
    assert largest(channel, accepted) == limit
    assert check_file(channel, accepted, limit) is None
    too_big = check_file(channel, accepted, limit + 1)
    assert too_big is not None and too_big.code == "channel_limit" and too_big.limit_bytes == limit
    assert channel in too_big.message and f"{limit // MB} MB" in too_big.message
    if refused is not None:
        no = check_file(channel, refused, 1)
        assert no is not None and no.code == "channel_type" and accepted in no.allowed and refused not in no.allowed
        assert channel in no.message and refused in no.message


def test_a_type_outside_the_inbox_list_goes_nowhere_and_voice_carries_nothing() -> None:
    for channel in ("email", "webchat", "telegram", "wechat"):
        refusal = check_file(channel, "image/svg+xml", 1)
        assert refusal is not None and refusal.code == "channel_type"
    voice = check_file("voice", "image/png", 1)
    assert voice is not None and voice.code == "no_files"
    assert check_file("carrier-pigeon", "image/png", 1) is not None


def test_the_way_a_file_is_sent_follows_its_type() -> None:
    assert rules_for("telegram").kind("image/png").name == "photo"  # type: ignore[union-attr]
    assert rules_for("telegram").kind("image/gif").name == "document"  # type: ignore[union-attr]
    assert rules_for("wechat").kind("image/jpeg").name == "image"  # type: ignore[union-attr]
    assert rules_for("wechat").kind("application/pdf").name == "link"  # type: ignore[union-attr]


def test_whatsapp_takes_one_file_a_message_and_mms_five_mb_in_all() -> None:
    pdf = ("application/pdf", MB)
    assert check_message("whatsapp", [pdf]) is None
    two = check_message("whatsapp", [pdf, pdf])
    assert two is not None and two.code == "channel_count" and two.limit_bytes == 1
    assert check_message("sms", [("image/png", 2 * MB), ("image/png", 3 * MB)]) is None
    total = check_message("sms", [("image/png", 3 * MB), ("image/png", 3 * MB)])
    assert total is not None and total.code == "channel_total"
    first = check_message("sms", [("text/plain", 1), ("image/png", 6 * MB)])
    assert first is not None and first.code == "channel_type"
    assert check_message("email", [pdf] * 5) is None
