"""Settings come from the environment; a bad one stops a service with one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from omnihub.common.config import ServiceSettings, load_settings

ROOT = Path(__file__).resolve().parents[2]


class DemoSettings(ServiceSettings):
    demo_port: int = 8099
    demo_token: SecretStr


def test_settings_are_read_and_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIHUB_DEMO_TOKEN", "s3cret")
    monkeypatch.setenv("OMNIHUB_DEMO_PORT", "9001")
    settings = load_settings(DemoSettings)
    assert settings.demo_port == 9001
    assert settings.demo_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its own frozen error
        settings.demo_port = 1  # type: ignore[misc]


def test_missing_setting_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OMNIHUB_DEMO_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exc:
        load_settings(DemoSettings)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "OMNIHUB_DEMO_TOKEN is required" in err


def test_invalid_setting_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OMNIHUB_DEMO_TOKEN", "x")
    monkeypatch.setenv("OMNIHUB_DEMO_PORT", "eighty")
    with pytest.raises(SystemExit):
        load_settings(DemoSettings)
    assert "OMNIHUB_DEMO_PORT" in capsys.readouterr().err


def service_modules() -> list[str]:
    return sorted(p.parent.name for p in ROOT.glob("services/*/src/omnihub/*/__main__.py"))


@pytest.mark.parametrize("service", service_modules() or ["<none yet>"])
def test_every_service_refuses_a_bad_setting(service: str) -> None:
    if service == "<none yet>":
        pytest.skip("no services yet")
    env = {**os.environ, "OMNIHUB_LOG_LEVEL": "LOUD", "OMNIHUB_NATS_URL": "nats://127.0.0.1:1"}
    result = subprocess.run(
        [sys.executable, "-m", f"omnihub.{service}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "OMNIHUB_LOG_LEVEL" in lines[0], result.stderr[-2000:]
