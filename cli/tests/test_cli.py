"""The omnihub command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from omnihub.cli.main import app


def test_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0 and result.stdout.strip() == "0.1.0"


def test_staffing_json_matches_erlang_c_table() -> None:
    result = CliRunner().invoke(app, ["staffing", "--arrivals", "100", "--interval", "30m", "--aht", "180",
                                      "--target", "0.8/20", "--shrinkage", "0.3", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["agents"] == 14 and data["scheduled_agents"] == 20 and data["traffic_erlangs"] == 10.0


CHILD = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (print("term", time.monotonic(), flush=True), sys.exit(3)))
signal.signal(signal.SIGINT, lambda *_: (print("int", time.monotonic(), flush=True), sys.exit(4)))
print("ready", flush=True)
time.sleep(30)
"""


def test_backing_servers_stop_after_a_grace_and_not_on_the_terminals_ctrl_c(tmp_path: Path) -> None:
    out = tmp_path / "child.out"
    with out.open("w") as sink:
        wrapper = subprocess.Popen([sys.executable, "-m", "omnihub.cli.stoplast", "1.0", sys.executable, "-c", CHILD],
                                   stdout=sink, start_new_session=True)
    deadline = time.monotonic() + 20
    while "ready" not in out.read_text():
        assert time.monotonic() < deadline and wrapper.poll() is None
        time.sleep(0.05)
    os.killpg(wrapper.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's whole process group
    sent = time.monotonic()
    os.kill(wrapper.pid, signal.SIGTERM)  # then honcho's SIGTERM
    assert wrapper.wait(timeout=20) == 3  # the child's own exit code, from SIGTERM
    lines = out.read_text().split()
    assert lines[1] == "term" and "int" not in lines  # the child never saw the Ctrl-C
    assert float(lines[2]) - sent >= 0.9  # and was stopped only after the grace
