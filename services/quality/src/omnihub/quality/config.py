"""Quality settings (OMNIHUB_QUALITY_*, OMNIHUB_CENTER_TIMEZONE) and queue targets and zones from routing.yaml."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from pydantic import SecretStr, field_validator

from omnihub.common.config import ServiceSettings
from omnihub.quality.calendar import zone


class QualitySettings(ServiceSettings):
    """Everything the quality service reads from the environment."""

    mongo_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    quality_db: str = "omnihub_quality"
    quality_http_port: int = 8085
    quality_grpc_port: int = 50052
    quality_short_abandon_seconds: float = 5.0
    quality_surveys: bool = True
    quality_nps: bool = False
    quality_hold_seconds: float = 3.0  # how long an open conversation's events may wait to be stored together
    center_timezone: str = "UTC"  # OMNIHUB_CENTER_TIMEZONE: IANA name; local days, weeks and months of reports
    # the daily report e-mail (reports.yaml `daily:`) goes out through this relay; no host, no report
    quality_report_smtp_host: str = ""
    quality_report_smtp_port: int = 25
    quality_report_smtp_username: str = ""
    quality_report_smtp_password: SecretStr = SecretStr("")
    quality_report_smtp_starttls: bool = False

    @field_validator("center_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value


def queue_targets(config_dir: Path) -> dict[str, tuple[float, float]]:
    """queue -> (target fraction, threshold seconds) from routing.yaml; empty when absent."""
    path = config_dir / "routing.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    out = {}
    for q in data.get("queues", []):
        sl = q.get("service_level") or {}
        out[str(q["name"])] = (float(sl.get("target", 0.8)), float(sl.get("threshold_seconds", 20)))
    return out


def queue_zones(config_dir: Path) -> dict[str, str]:
    """queue -> IANA time zone for queues whose `timezone` in routing.yaml differs from the center's."""
    path = config_dir / "routing.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    out = {}
    for q in data.get("queues", []):
        if q.get("report_time_zone"):
            out[str(q["name"])] = zone(str(q["report_time_zone"])).key
    return out


def queue_holidays(config_dir: Path) -> dict[str, list[dt.date]]:
    """queue -> the holidays of its business calendar (routing.yaml `business_hours.holidays`)."""
    path = config_dir / "routing.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    out: dict[str, list[dt.date]] = {}
    for q in data.get("queues", []):
        days = (q.get("business_hours") or {}).get("holidays") or []
        out[str(q["name"])] = [d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)) for d in days]
    return out
