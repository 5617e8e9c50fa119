"""The daily report e-mail over real SMTP on loopback: sent once a local day at the configured hour, with the
reports' own numbers in the mail and the workbook, in each recipient's language; restart-safe, retried on failure."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import AsyncIterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import pytest_asyncio
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from omnihub.quality import calendar, export
from omnihub.quality.config import QualitySettings
from omnihub.quality.daily_report import DailyReport, DailyReporter, Recipient, SmtpRelay, load_config, start
from omnihub.quality.ingest import Ingestor
from omnihub.quality.queries import KpiQuery, as_json
from omnihub.quality.store import QualityStore
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import eventually
from tests.kpis.events import event, when

VECTOR = yaml.safe_load((Path(__file__).resolve().parents[3] / "tests" / "kpis" / "service_level.yaml").read_text())
ZONE = "Asia/Shanghai"  # the vector's events (09:00-09:05 UTC on 2 March) are all on 2 March in Shanghai too


class Sink:
    """An SMTP relay that keeps every message it accepts."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        mail = message_from_bytes(content if isinstance(content, bytes) else (content or "").encode(), policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        return "250 OK"


@pytest.fixture
def relay() -> Any:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest_asyncio.fixture
async def query(mongo_url: str, mongo_db: str) -> AsyncIterator[KpiQuery]:
    """The service-level vector's day stored through the real ingest path, for a Shanghai center."""
    store = QualityStore(mongo_url, mongo_db)
    await store.setup()
    q = KpiQuery(store, {"support": (0.8, 20.0), "sales": (0.8, 30.0)}, 5.0, ZONE)
    await Ingestor(store, None, surveys=False, rollup=q.config).handle(  # type: ignore[arg-type]
        [event(s, i) for i, s in enumerate(VECTOR["events"])])
    yield q
    await store.close()


CONFIG = DailyReport.model_validate({"send_at": "07:00", "from": "reports@example.com", "recipients": [
    {"email": "sam@example.com"}, {"email": "li@example.cn", "language": "zh-CN", "group_by": "agent"}]})


def local(text: str) -> float:
    return when(f"{text}+08:00")


def workbook(mail: EmailMessage) -> list[list[Any]]:
    [part] = [p for p in mail.iter_attachments()]
    assert part.get_filename() == "kpis_2026-03-02.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(part.get_content()))
    return [list(r) for r in book["KPIs"].iter_rows(values_only=True)]


async def test_sent_once_at_seven_local_with_yesterdays_figures_in_each_language(
        query: KpiQuery, relay: tuple[Sink, int]) -> None:
    sink, port = relay
    now = [local("2026-03-03T06:59:00")]
    reporter = DailyReporter(query, CONFIG, SmtpRelay(host="127.0.0.1", port=port), clock=lambda: now[0])
    assert await reporter.tick() is None and sink.mails == []  # before 07:00 in Shanghai (22:59 UTC the day before)
    now[0] = local("2026-03-03T07:00:00")
    run = await reporter.tick()
    assert run is not None and run["status"] == "sent" and run["sent_to"] == ["sam@example.com", "li@example.cn"]
    en, zh = sink.mails
    assert en["To"] == "sam@example.com" and en["Subject"] == "omnihub daily report for 2026-03-02 (Asia/Shanghai)"
    assert zh["Subject"] == "omnihub 日报：2026-03-02（Asia/Shanghai）"

    # the numbers are the reports' for local yesterday, by queue for one and by agent for the other
    start, end = calendar.period("yesterday", now[0], query.zone_for())
    assert (start, end) == (local("2026-03-02T00:00:00"), local("2026-03-03T00:00:00"))
    for mail, group_by, lang in ((en, "queue", "en"), (zh, "agent", "zh-CN")):
        rows, total = await query.rows(start, end, group_by, 3600)
        answer = {"rows": [as_json(r) for r in rows], "total": as_json(total)}
        assert workbook(mail) == [[None if v is None else v for v in line] for line in export.table(answer, lang)]
    html = en.get_body(("html",))
    assert html is not None
    page = html.get_content()
    assert "<td>support</td><td>4</td><td>2</td><td>2</td><td>50.0%</td><td>20 s</td><td>180 s</td>" in page
    assert "<td>sales</td><td>1</td><td>0</td><td>1</td><td>—</td><td>—</td>" in page  # nothing answered: a dash
    zh_page = zh.get_body(("html",))
    assert zh_page is not None and "按座席" in zh_page.get_content() and "<td>alice</td>" in zh_page.get_content()
    plain = zh.get_body(("plain",))
    assert plain is not None and "合计" in plain.get_content()

    # later the same day, and after a restart (a new reporter on the same database), nothing more is sent
    now[0] = local("2026-03-03T18:00:00")
    assert await reporter.tick() is None
    again = DailyReporter(query, CONFIG, SmtpRelay(host="127.0.0.1", port=port), clock=lambda: now[0])
    assert await again.tick() is None and len(sink.mails) == 2
    # the next morning's report covers 3 March (no contacts: the mail says so)
    now[0] = local("2026-03-04T07:00:30")
    assert (await again.tick() or {}).get("status") == "sent"
    assert len(sink.mails) == 4 and sink.mails[2]["Subject"].endswith("2026-03-03 (Asia/Shanghai)")
    plain = sink.mails[2].get_body(("plain",))
    assert plain is not None and "No contacts yesterday." in plain.get_content()


async def test_a_relay_that_refuses_is_retried_on_the_next_tick_then_given_up(
        query: KpiQuery, relay: tuple[Sink, int]) -> None:
    sink, port = relay
    now = local("2026-03-03T08:00:00")
    config = DailyReport.model_validate({"recipients": [{"email": "sam@example.com"}]})
    down = DailyReporter(query, config, SmtpRelay(host="127.0.0.1", port=free_port()), clock=lambda: now)
    run = await down.tick()
    assert run is not None and run["status"] == "failed" and "sam@example.com" in run["errors"]
    up = DailyReporter(query, config, SmtpRelay(host="127.0.0.1", port=port), clock=lambda: now)
    run = await up.tick()
    assert run is not None and (run["status"], run["attempts"]) == ("sent", 2) and len(sink.mails) == 1
    assert await up.tick() is None  # sent: not again
    # a relay that never comes back: three tries in all, then the day is left as failed
    later = local("2026-03-04T08:00:00")
    gone = DailyReporter(query, config, SmtpRelay(host="127.0.0.1", port=free_port()), clock=lambda: later)
    runs = [await gone.tick() for _ in range(4)]
    assert [r["attempts"] if r else None for r in runs] == [1, 2, 3, None]


def test_reports_yaml_is_checked_and_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "reports.yaml"
    assert load_config(path) is None  # no file, no report
    path.write_text("daily:\n  send_at: 06:30\n  recipients:\n    - {email: sam@example.com, language: zh-CN}\n")
    config = load_config(path)
    assert config is not None and config.send_at.hour == 6 and config.send_at.minute == 30
    assert config.recipients == (Recipient(email="sam@example.com", language="zh-CN"),)
    for bad in ("daily:\n  recipients: [{email: not-an-address}]\n",
                "daily:\n  recipients: [{email: a@b.cn, language: fr}]\n",
                "daily:\n  recipients: [{email: a@b.cn, group_by: interval}]\n",
                "daily:\n  send_at: '25:00'\n  recipients: [{email: a@b.cn}]\n",
                "daily: [\n"):
        path.write_text(bad)
        with pytest.raises(ValueError, match=r"reports\.yaml"):
            load_config(path)


async def test_the_service_starts_the_job_from_its_settings(query: KpiQuery, relay: tuple[Sink, int],
                                                            tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """What the quality service's main does: reports.yaml in the config dir and a relay set start the job; due at
    00:00, the report goes at once. Without a relay, nothing is started."""
    sink, port = relay
    (tmp_path / "reports.yaml").write_text(yaml.safe_dump({"daily": {"send_at": "00:00", "recipients": [
        {"email": "sam@example.com"}]}}))
    async with contextlib.AsyncExitStack() as stack:
        start(QualitySettings(config_dir=tmp_path), query, stack)
        assert "OMNIHUB_QUALITY_REPORT_SMTP_HOST is not set: no report" in caplog.text  # no relay: no job
        start(QualitySettings(config_dir=tmp_path, quality_report_smtp_host="127.0.0.1", quality_report_smtp_port=port),
              query, stack)
        await eventually(lambda: len(sink.mails) == 1, timeout=20)
    assert sink.mails[0]["To"] == "sam@example.com"


async def test_a_stop_while_the_report_is_on_its_way_lets_it_go_and_be_logged(query: KpiQuery, tmp_path: Path) -> None:
    """The service stops while the relay is still taking the mail: the send finishes and the day is logged "sent"
    (a cancel there left it "sending")."""
    release = threading.Event()

    class SlowRelay(Sink):
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            while not release.is_set():  # the relay's own loop, in its thread: waits for the test
                await asyncio.sleep(0.01)
            return await super().handle_DATA(server, session, envelope)

    sink, port = SlowRelay(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        (tmp_path / "reports.yaml").write_text(yaml.safe_dump({"daily": {"send_at": "00:00", "recipients": [
            {"email": "sam@example.com"}]}}))
        stack = contextlib.AsyncExitStack()
        start(QualitySettings(config_dir=tmp_path, quality_report_smtp_host="127.0.0.1",
                              quality_report_smtp_port=port), query, stack)
        runs = query.store.db["report_runs"]
        await eventually(lambda: runs.find_one({"status": "sending"}), timeout=20)
        closing = asyncio.ensure_future(stack.aclose())
        await asyncio.sleep(0)  # one turn of the loop: the stop has begun while the mail is still on its way
        assert not closing.done()
        release.set()
        await closing
        [day] = await runs.find({}).to_list(None)
        assert day["status"] == "sent" and day["sent_to"] == ["sam@example.com"]
        assert [m["To"] for m in sink.mails] == ["sam@example.com"]
    finally:
        release.set()
        controller.stop()
