"""ServiceHub: a service that fails to start leaves no process of the hub behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.testkit.hub import ServiceHub


@pytest.mark.slow  # two service starts (about 5 s on a quiet machine, a minute on a loaded one)
def test_a_failed_start_stops_the_services_already_started(tmp_path: Path, nats_session_url: str) -> None:
    hub = ServiceHub(tmp_path, nats_session_url, "mongodb://127.0.0.1:9",
                     extra={"sms": {"OMNIHUB_SMS_HTTP_PORT": "not-a-port"}})  # sms refuses its settings
    with pytest.raises(RuntimeError, match="sms exited"):
        hub.start("chat", "sms")
    chat = hub.procs["chat"].proc
    assert chat is not None and chat.poll() is not None, "chat was left running"
    assert hub.procs["sms"].proc is not None and hub.procs["sms"].proc.poll() is not None
