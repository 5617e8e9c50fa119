"""The daily KPI report by e-mail: yesterday's figures in the center's time zone, sent at a local hour."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import logging
import re
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Literal, TypedDict

import aiosmtplib
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pymongo.errors import DuplicateKeyError

from omnihub.quality import calendar, export
from omnihub.quality.config import QualitySettings
from omnihub.quality.queries import KpiQuery, as_json
from omnihub.quality.store import QualityStore

log = logging.getLogger(__name__)

ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
ATTEMPTS = 3  # a day's report is tried this often (one try a tick), then left as failed in the log
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
# the columns of the mail's table (the attachment has all of them): (column, how it is shown)
SHOWN: tuple[tuple[str, str], ...] = (
    ("key", "text"), ("offered", "count"), ("answered", "count"), ("abandoned", "count"),
    ("service_level_b", "percent"), ("asa", "seconds"), ("aht", "seconds"), ("abandonment_rate", "percent"),
    ("fcr", "percent"), ("csat", "number"), ("occupancy", "percent"))


class Words(TypedDict):
    subject: str
    title: str
    by: dict[str, str]
    none: str
    attached: str


WORDS: dict[str, Words] = {
    "en": {"subject": "omnihub daily report for {day} ({zone})",
           "title": "Yesterday, {day}, in {zone}, {by}",
           "by": {"queue": "by queue", "agent": "by agent", "channel": "by channel"},
           "none": "No contacts yesterday.",
           "attached": "All figures are in the attached workbook; the same numbers as the reports page."},
    "zh-CN": {"subject": "omnihub 日报：{day}（{zone}）",
              "title": "昨日 {day}（{zone}），{by}",
              "by": {"queue": "按队列", "agent": "按座席", "channel": "按渠道"},
              "none": "昨日没有联系。",
              "attached": "全部指标见附件工作簿，与报表页面的数字相同。"},
}


class Recipient(BaseModel):
    """One person the report goes to, in their language, grouped their way, for one queue or all."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    email: str
    language: Literal["en", "zh-CN"] = "en"
    group_by: Literal["queue", "agent", "channel"] = "queue"
    queue: str = ""

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        if not ADDRESS.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value


class DailyReport(BaseModel):
    """`daily:` of reports.yaml: when (local time of the center) and to whom."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    send_at: dt.time = dt.time(7, 0)
    sender: str = Field("reports@omnihub.local", alias="from")
    recipients: tuple[Recipient, ...] = ()

    @field_validator("sender")
    @classmethod
    def _address(cls, value: str) -> str:
        if not ADDRESS.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value


def load_config(path: Path) -> DailyReport | None:
    """The daily report of reports.yaml; None when the file or its recipients are absent. A bad file raises
    ValueError naming the file and the field."""
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text()) or {}
        daily = data.get("daily") if isinstance(data, dict) else None
        if daily is None:
            return None
        if isinstance(daily.get("send_at"), int):  # YAML reads an unquoted 07:00 as 420 (minutes, base 60)
            daily = {**daily, "send_at": dt.time(daily["send_at"] // 60, daily["send_at"] % 60)}
        config = DailyReport.model_validate(daily)
    except (yaml.YAMLError, ValidationError, AttributeError, TypeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return config if config.recipients else None


class SmtpRelay(BaseModel):
    """Where the quality service hands its mail (OMNIHUB_QUALITY_REPORT_SMTP_*)."""

    model_config = ConfigDict(frozen=True)
    host: str
    port: int = 25
    username: str = ""
    password: str = ""
    starttls: bool = False

    async def send(self, message: EmailMessage) -> None:
        """One message through the relay; raises on any refusal."""
        await aiosmtplib.send(message, hostname=self.host, port=self.port, username=self.username or None,
                              password=self.password or None, start_tls=self.starttls, timeout=30)


def _figure(value: Any, how: str, lang: str) -> str:
    if value is None:
        return "—"
    if how == "text":
        return html.escape(str(value))
    if how == "percent":
        return f"{value * 100:.1f}%"
    if how == "seconds":
        return f"{round(value)} s" if lang == "en" else f"{round(value)} 秒"
    if how == "count":
        return f"{int(value):,}"
    return f"{value:.2f}"


def compose(answer: dict[str, Any], recipient: Recipient, sender: str, day: str) -> EmailMessage:
    """The mail of one answer: a table of the main figures (HTML and plain text) and the workbook attached."""
    lang = recipient.language
    words, labels = WORDS[lang], export.LABELS[lang]
    zone = answer["time_zone"]
    msg = EmailMessage()
    msg["Subject"] = words["subject"].format(day=day, zone=zone)
    msg["From"], msg["To"] = sender, recipient.email
    msg["Date"], msg["Message-ID"] = formatdate(localtime=False), make_msgid(domain="omnihub.local")
    msg["Content-Language"] = lang
    title = words["title"].format(day=day, zone=zone, by=words["by"][recipient.group_by])
    if recipient.queue:
        title += f" · {recipient.queue}"
    rows = [*answer["rows"], {**answer["total"], "key": labels["total"]}]
    text_lines = [title, ""]
    head = "".join(f"<th scope=\"col\">{html.escape(labels[c])}</th>" for c, _ in SHOWN)
    body_rows = []
    for row in rows:
        cells = [_figure(row.get(c), how, lang) for c, how in SHOWN]
        body_rows.append("<tr>" + "".join(f"<td>{v}</td>" for v in cells) + "</tr>")
        text_lines.append(" | ".join(html.unescape(v) for v in cells))
    empty = not answer["rows"]
    text_lines += ["", words["none"] if empty else "", words["attached"]]
    msg.set_content("\n".join(text_lines))
    page = (f"<!doctype html><html lang=\"{lang}\"><body><h1>{html.escape(title)}</h1>"
            + (f"<p>{words['none']}</p>" if empty else "")
            + f"<table border=\"1\" cellpadding=\"4\"><thead><tr>{head}</tr></thead>"
            + f"<tbody>{''.join(body_rows)}</tbody></table><p>{words['attached']}</p></body></html>")
    msg.add_alternative(page, subtype="html")
    msg.add_attachment(export.to_xlsx(answer, lang), maintype=XLSX[0], subtype=XLSX[1],
                       filename=f"kpis_{day}.xlsx")
    return msg


class ReportLog:
    """One document per report day (`daily:<local date>`): claimed before sending, so that of several quality
    replicas, and across restarts, one sends it once."""

    def __init__(self, store: QualityStore) -> None:
        self.runs = store.db["report_runs"]

    async def claim(self, day: str, now: float) -> bool:
        """True when this caller is to send the day's report: nobody claimed it, or a failed try may be retried."""
        try:
            await self.runs.insert_one({"_id": f"daily:{day}", "day": day, "status": "sending", "attempts": 1,
                                        "claimed_at": now})
            return True
        except DuplicateKeyError:
            retried = await self.runs.update_one(
                {"_id": f"daily:{day}", "status": "failed", "attempts": {"$lt": ATTEMPTS}},
                {"$set": {"status": "sending", "claimed_at": now}, "$inc": {"attempts": 1}})
            return retried.modified_count == 1

    async def finish(self, day: str, sent: list[str], failed: dict[str, str], now: float) -> None:
        await self.runs.update_one({"_id": f"daily:{day}"}, {"$set": {
            "status": "failed" if failed else "sent", "sent_to": sent, "errors": failed, "finished_at": now}})

    async def get(self, day: str) -> dict[str, Any] | None:
        return await self.runs.find_one({"_id": f"daily:{day}"})


class DailyReporter:
    """Sends yesterday's report once a local day, at `send_at` or at the first tick after it (a service that was
    down at 07:00 sends when it is back, the same day)."""

    def __init__(self, query: KpiQuery, config: DailyReport, relay: SmtpRelay | Callable[[EmailMessage], Awaitable[None]],
                 clock: Callable[[], float] = time.time) -> None:
        self.query, self.config, self.clock = query, config, clock
        self.send = relay.send if isinstance(relay, SmtpRelay) else relay
        self.log = ReportLog(query.store)

    def due_day(self, now: float) -> str | None:
        """The local date whose yesterday is due now, or None before today's sending time."""
        local = dt.datetime.fromtimestamp(now, self.query.zone_for())
        return local.date().isoformat() if local.time() >= self.config.send_at else None

    async def tick(self) -> dict[str, Any] | None:
        """Send the report if it is due and not yet sent; the day's log document when this call sent (or tried)."""
        now = self.clock()
        today = self.due_day(now)
        if today is None or not await self.log.claim(today, now):
            return None
        sent: list[str] = []
        failed: dict[str, str] = {}
        day = (dt.date.fromisoformat(today) - dt.timedelta(days=1)).isoformat()
        for recipient in self.config.recipients:
            try:
                answer = await self.answer(now, recipient)
                await self.send(compose(answer, recipient, self.config.sender, day))
                sent.append(recipient.email)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                failed[recipient.email] = str(exc) or type(exc).__name__
        await self.log.finish(today, sent, failed, self.clock())
        log.info("daily report", extra={"day": day, "sent": len(sent), "failed": len(failed)})
        return await self.log.get(today)

    async def answer(self, now: float, recipient: Recipient) -> dict[str, Any]:
        """What GET /api/kpis?period=yesterday answers for this grouping and queue (the reports page's numbers)."""
        tz = self.query.zone_for(recipient.queue)
        start, end = calendar.period("yesterday", now, tz)
        rows, total = await self.query.rows(start, end, recipient.group_by, 3600, "", recipient.queue)
        return {"from": calendar.iso(start, tz), "to": calendar.iso(end, tz), "time_zone": tz.key,
                "group_by": recipient.group_by, "interval": "1h", "rows": [as_json(r) for r in rows],
                "total": as_json(total)}

    async def run(self, stopping: asyncio.Event, every: float = 60.0) -> None:
        """Tick until `stopping` is set; a failing tick is logged and the next one tries again. A tick in progress
        when it is set finishes first, so its mails are sent and the day logged, never left "sending"."""
        while not stopping.is_set():
            try:
                await self.tick()
            except Exception:  # the job must outlive a database hiccup
                log.exception("daily report tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), every)


STOP_SECONDS = 40.0  # a tick in progress may be waiting for a relay (30 s per mail) when the service stops


def start(settings: QualitySettings, query: KpiQuery, stack: contextlib.AsyncExitStack) -> None:
    """The daily report e-mail's job, when reports.yaml names recipients and a relay is set."""
    config = load_config(settings.config_dir / "reports.yaml")
    if config is None:
        return
    if not settings.quality_report_smtp_host:
        log.warning("reports.yaml has daily recipients but OMNIHUB_QUALITY_REPORT_SMTP_HOST is not set: no report")
        return
    relay = SmtpRelay(
        host=settings.quality_report_smtp_host, port=settings.quality_report_smtp_port,
        username=settings.quality_report_smtp_username,
        password=settings.quality_report_smtp_password.get_secret_value(),
        starttls=settings.quality_report_smtp_starttls)
    stopping = asyncio.Event()
    task = asyncio.get_running_loop().create_task(DailyReporter(query, config, relay).run(stopping))

    async def stop() -> None:
        # Not a cancel: one landing inside a send or a database write left the day "sending" (and, now and then,
        # the shutdown waiting for ever). A stuck tick is still cut off after a mail's own timeout and a margin.
        stopping.set()
        _, stuck = await asyncio.wait([task], timeout=STOP_SECONDS)
        for t in stuck:
            t.cancel()
    stack.push_async_callback(stop)
