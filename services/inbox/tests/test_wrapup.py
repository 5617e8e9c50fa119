"""Disposition codes come from the desktop file; the wrap-up refuses a code that is not configured."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from omnihub.inbox.wrapup import DEFAULT, load_dispositions

from .test_http import Served, login, served  # noqa: F401  (the fixture)

DESKTOP = """
dispositions:
  - code: callback_booked
    labels: {en: Callback booked, zh-CN: 已预约回电}
  - code: refund
    labels: {en: Refund, zh-CN: 退款}
"""


def test_the_desktop_file_gives_the_codes_in_order(tmp_path: Path) -> None:
    path = tmp_path / "desktop.yaml"
    path.write_text(DESKTOP)
    loaded = load_dispositions(path)
    assert [d.code for d in loaded.dispositions] == ["callback_booked", "refund"]
    assert loaded.dispositions[0].labels["zh-CN"] == "已预约回电"
    assert load_dispositions(tmp_path / "missing.yaml") == DEFAULT


@pytest.mark.parametrize(("text", "problem"), [
    ("dispositions:\n  - {code: refund, labels: {en: Refund}}\n", "no label in zh-CN"),
    ("dispositions:\n  - {code: Bad Code, labels: {en: x, zh-CN: y}}\n", "code"),
    ("dispositions:\n  - {code: a, labels: {en: x, zh-CN: y}}\n  - {code: a, labels: {en: x, zh-CN: y}}\n", "twice"),
    ("dispositions: [\n", "invalid desktop file"),
])
def test_a_bad_desktop_file_stops_the_inbox_naming_the_problem(
        tmp_path: Path, text: str, problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "desktop.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit) as stopped:
        load_dispositions(path)
    assert stopped.value.code == 2
    assert problem in capsys.readouterr().err


async def test_the_endpoint_lists_the_configured_codes_and_the_wrap_up_refuses_others(
        served: Served, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "desktop.yaml"
    path.write_text(DESKTOP)
    served.inbox.dispositions = load_dispositions(path)  # what app.main does before the routes; read per request
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        headers = await login(http, served.base, "alice")
        listed = await (await http.get(f"{served.base}/api/dispositions")).json()
        assert [d["code"] for d in listed["dispositions"]] == ["callback_booked", "refund"]
        refused = await http.post(f"{served.base}/api/conversations/cnv_1/wrapup", headers=headers,
                                  json={"disposition": "question_answered", "resolved": True})
        assert refused.status == 400 and "unknown disposition" in await refused.text()
