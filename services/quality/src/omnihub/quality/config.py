"""Quality settings (OMNIHUB_QUALITY_*) and queue service-level targets from routing.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from omnihub.common.config import ServiceSettings


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
