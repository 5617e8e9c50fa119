"""Exports: column titles in English and Chinese, null as an empty cell, no formulas from names."""

from __future__ import annotations

import csv
import io

import openpyxl

from omnihub.quality.export import to_csv, to_xlsx

ANSWER = {"from": "2026-03-02T00:00:00+08:00", "to": "2026-03-03T00:00:00+08:00", "time_zone": "Asia/Shanghai",
          "group_by": "agent", "rows": [{"key": "=HYPERLINK(\"x\")", "offered": 2, "service_level_b": None,
                                         "volume": {"sms": 2}}],
          "total": {"key": "total", "offered": 2, "service_level_b": 0.5, "volume": {"sms": 2}}}


def test_csv_titles_null_and_formula_injection() -> None:
    lines = list(csv.reader(io.StringIO(to_csv(ANSWER, "zh-CN"))))
    assert lines[0][:3] == ["分组", "呼入量", "接通量"] and lines[0][-1] == "量 sms"
    assert lines[1][0] == "'=HYPERLINK(\"x\")" and lines[1][7] == ""  # service level B: null, an empty cell
    assert lines[2][0] == "合计" and lines[2][7] == "0.5"
    assert next(iter(csv.reader(io.StringIO(to_csv(ANSWER)))))[0] == "Group"


def test_xlsx_holds_the_table_and_its_window() -> None:
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(ANSWER)))
    rows = list(book["KPIs"].iter_rows(values_only=True))
    assert rows[1][1] == 2 and rows[1][7] is None and rows[2][7] == 0.5
    about = {str(k): v for k, v, *_ in book["About"].iter_rows(values_only=True)}
    assert about["Time zone"] == "Asia/Shanghai" and about["From"] == "2026-03-02T00:00:00+08:00"
