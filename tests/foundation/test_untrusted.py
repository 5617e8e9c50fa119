"""omnihub.common.untrusted: provider fields and stranger's JSON are bounded or refused with the field named."""

from __future__ import annotations

import pytest

from omnihub.common import untrusted
from omnihub.common.untrusted import InvalidField


@pytest.mark.parametrize("good", ["+8613800138000", "+15550001111", "+" + "1" * 15, "72345", "whatsapp:+15550001111"])
def test_phone_accepts_e164_short_codes_and_a_known_scheme(good: str) -> None:
    assert untrusted.phone(good, "From", schemes=("whatsapp",)) == good


@pytest.mark.parametrize("bad", ["+" + "1" * 16, "+0123456", "12", "tel:+15550001111", "whatsapp:abc", "+1 555",
                                 "+1" + "5" * 4_999, "１２３４５"])
def test_phone_refuses_anything_else_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidField) as exc:
        untrusted.phone(bad, "From", schemes=("whatsapp",))
    assert exc.value.field == "From"


def test_twilio_sids_have_a_prefix_and_32_hex_digits() -> None:
    assert untrusted.twilio_sid("SM" + "a" * 32, "MessageSid", ("SM", "MM"))
    for bad in ("SM" + "a" * 31, "SM" + "g" * 32, "CA" + "a" * 32, "", "SM" + "a" * 32 + "\n"):
        with pytest.raises(InvalidField):
            untrusted.twilio_sid(bad, "MessageSid", ("SM", "MM"))


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "1e3", " 3", "٣", "9" * 20])
def test_counts_are_plain_bounded_whole_numbers(bad: str) -> None:
    assert untrusted.count("7", "NumMedia", maximum=10) == 7 and untrusted.count("", "NumMedia", maximum=10) == 0
    with pytest.raises(InvalidField):
        untrusted.count(bad, "NumMedia", maximum=10)


@pytest.mark.parametrize("bad", ["nan", "inf", "1e999", "-5", "abc", "99999999"])
def test_seconds_are_finite_and_bounded(bad: str) -> None:
    assert untrusted.seconds("61.5", "RecordingDuration") == 61.5
    with pytest.raises(InvalidField):
        untrusted.seconds(bad, "RecordingDuration")


@pytest.mark.parametrize("raw", ["[" * 2_000 + "]" * 2_000, '{"a": 1e999}', '{"a": NaN}', '{"a": -Infinity}',
                                 '{"a": "\\udc00"}', '{"\\ud800": 1}', "[" * 33 + "]" * 33, "{", "9" * 5_000])
def test_parse_json_refuses_hostile_documents_with_a_value_error(raw: str) -> None:
    with pytest.raises(InvalidField):
        untrusted.parse_json(raw)


def test_parse_json_keeps_ordinary_documents() -> None:
    doc = '{"type": "message", "seq": 3, "text": "你好 😀", "n": [1.5, [2, {"x": null}]]}'
    assert untrusted.parse_json(doc)["text"] == "你好 😀"
    assert untrusted.parse_json("[" * 32 + "]" * 32) is not None
