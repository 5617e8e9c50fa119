"""KPI answers as CSV and XLSX: the very numbers of the JSON answer, one row per group and the total last."""

from __future__ import annotations

import csv
import io
from typing import Any

COLUMNS = ("key", "offered", "answered", "abandoned", "short_abandoned", "answered_within", "service_level_a",
           "service_level_b", "asa", "aht", "talk", "wrap", "abandonment_rate", "handled", "transfers", "reopens",
           "callbacks", "fcr", "fcr_eligible", "csat", "csat_responses", "nps", "nps_responses", "occupancy",
           "availability", "adherence", "conformance", "qa_score", "qa_evaluations", "threshold", "target")

LABELS = {
    "en": {"key": "Group", "offered": "Offered", "answered": "Answered", "abandoned": "Abandoned",
           "short_abandoned": "Short abandons", "answered_within": "Answered within threshold",
           "service_level_a": "Service level A", "service_level_b": "Service level B", "asa": "ASA (s)",
           "aht": "AHT (s)", "talk": "Talk (s)", "wrap": "Wrap-up (s)", "abandonment_rate": "Abandonment rate",
           "handled": "Handled", "transfers": "Transfers", "reopens": "Reopens", "callbacks": "Callbacks",
           "fcr": "FCR", "fcr_eligible": "FCR eligible", "csat": "CSAT", "csat_responses": "CSAT responses",
           "nps": "NPS", "nps_responses": "NPS responses", "occupancy": "Occupancy", "availability": "Availability",
           "adherence": "Schedule adherence", "conformance": "Schedule conformance",
           "qa_score": "QA score", "qa_evaluations": "QA evaluations", "threshold": "Threshold (s)",
           "target": "Target", "volume": "Volume", "from": "From", "to": "To", "time_zone": "Time zone",
           "group_by": "Grouped by", "total": "Total"},
    "zh-CN": {"key": "分组", "offered": "呼入量", "answered": "接通量", "abandoned": "放弃量",
              "short_abandoned": "短时放弃", "answered_within": "阈值内接通", "service_level_a": "服务水平 A",
              "service_level_b": "服务水平 B", "asa": "平均应答时间（秒）", "aht": "平均处理时长（秒）",
              "talk": "通话时长（秒）", "wrap": "话后处理（秒）", "abandonment_rate": "放弃率", "handled": "处理量",
              "transfers": "转接", "reopens": "重新打开", "callbacks": "回呼", "fcr": "首次解决率",
              "fcr_eligible": "首次解决可计数", "csat": "满意度", "csat_responses": "满意度回复",
              "nps": "净推荐值", "nps_responses": "净推荐值回复", "occupancy": "占用率", "availability": "可用率",
              "adherence": "排班遵守率", "conformance": "排班符合率",
              "qa_score": "质检得分", "qa_evaluations": "质检次数", "threshold": "阈值（秒）", "target": "目标",
              "volume": "量", "from": "开始", "to": "结束", "time_zone": "时区", "group_by": "分组方式",
              "total": "合计"},
}


def _labels(lang: str) -> dict[str, str]:
    return LABELS["zh-CN"] if lang.lower().startswith("zh") else LABELS["en"]


def _channels(answer: dict[str, Any]) -> list[str]:
    return sorted({ch for row in [*answer["rows"], answer["total"]] for ch in row.get("volume", {})})


def table(answer: dict[str, Any], lang: str = "en") -> list[list[Any]]:
    """Header and rows (total last) of a KPI answer; None where the answer says null."""
    labels = _labels(lang)
    channels = _channels(answer)
    header: list[Any] = [labels[c] for c in COLUMNS] + [f"{labels['volume']} {ch}" for ch in channels]
    out = [header]
    for row in [*answer["rows"], {**answer["total"], "key": labels["total"]}]:
        out.append([row.get(c) for c in COLUMNS] + [row.get("volume", {}).get(ch, 0) for ch in channels])
    return out


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is quoted (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(answer: dict[str, Any], lang: str = "en") -> str:
    """The answer as CSV (null is an empty cell), with its window in a first comment-free header block."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for line in table(answer, lang):
        writer.writerow(["" if v is None else _cell(v) for v in line])
    return buf.getvalue()


def to_xlsx(answer: dict[str, Any], lang: str = "en") -> bytes:
    """The answer as an XLSX workbook: the table, and the window it covers on a second sheet."""
    from openpyxl import Workbook  # here: importing it costs ~0.4 s of CPU at every start of the service

    labels = _labels(lang)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "KPIs"
    for line in table(answer, lang):
        sheet.append([_cell(v) for v in line])
    about = book.create_sheet("About")
    for key in ("from", "to", "time_zone", "group_by"):
        about.append([labels[key], str(answer.get(key, ""))])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
