"""Pure parts: visitor tokens, survey callback data and configuration rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.chat import tokens
from omnihub.chat.config import ChatSettings, signing_key, telegram_configured
from omnihub.chat.telegram_gateway import parse_survey_callback, survey_callback
from omnihub.common.bus import new_id
from omnihub.common.errors import ConfigError


def test_token_roundtrip_and_tampering() -> None:
    token = tokens.sign("v_abc", b"k1")
    assert tokens.verify(token, b"k1") == "v_abc"
    assert tokens.verify(token, b"k2") is None
    assert tokens.verify("v_abd." + token.rpartition(".")[2], b"k1") is None
    assert tokens.verify("", b"k1") is None
    assert tokens.verify("no-dot", b"k1") is None


def test_survey_callback_roundtrip_fits_64_bytes() -> None:
    survey_id = f"srv_{new_id('cnv')}"  # quality's survey id: the conversation's (128 random bits) prefixed
    for question, score in (("csat", 4), ("nps", 10)):
        data = survey_callback(question, score, survey_id)
        assert len(data.encode()) <= 64
        answer = parse_survey_callback(data)
        assert answer is not None and (answer.question, answer.score, answer.survey_id) == (question, score, survey_id)
    assert parse_survey_callback("other|x") is None


def test_telegram_half_configured_is_an_error(tmp_path: Path) -> None:
    only_token = ChatSettings(telegram_bot_token="1:x", var_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        telegram_configured(only_token)
    assert not telegram_configured(ChatSettings(var_dir=tmp_path))


def test_generated_signing_key_is_persisted_privately(tmp_path: Path) -> None:
    settings = ChatSettings(var_dir=tmp_path)
    first = signing_key(settings)
    assert len(first) == 64 and signing_key(settings) == first
    assert (tmp_path / "chat-widget-signing-key").stat().st_mode & 0o077 == 0


def test_visitor_ids_carry_128_random_bits() -> None:
    from omnihub.chat import tokens

    ids = {tokens.new_visitor_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 2 + 32 for i in ids)


def test_widget_topics_come_from_the_file_and_bad_files_exit_2(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from omnihub.chat.widget_config import DEFAULT, load_widget_config

    assert load_widget_config(tmp_path / "missing.yaml") == DEFAULT
    good = tmp_path / "widget.yaml"
    good.write_text("topics:\n  - {id: returns, labels: {en: Returns, zh-CN: 退货}}\n"
                    "  - {id: sales, labels: {en: Sales, zh-CN: 销售}}\n")
    loaded = load_widget_config(good)
    assert [t.id for t in loaded.topics] == ["returns", "sales"] and loaded.knows("returns")
    assert not loaded.knows("billing") and not loaded.knows("")
    for text, reason in (
        ("topics:\n  - {id: returns, labels: {en: Returns}}\n", "no label in zh-CN"),
        ("topics:\n  - {id: Bad Id, labels: {en: x, zh-CN: y}}\n", "invalid widget file"),
        ("topics:\n  - {id: a, labels: {en: x, zh-CN: y}}\n  - {id: a, labels: {en: x, zh-CN: y}}\n", "twice"),
        ("topics: [\n", "invalid widget file"),
    ):
        good.write_text(text)
        with pytest.raises(SystemExit) as exited:
            load_widget_config(good)
        assert exited.value.code == 2
        assert reason in capsys.readouterr().err
