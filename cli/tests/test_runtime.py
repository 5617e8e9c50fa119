"""`omnihub up` under supervisord: a killed process comes back alone, Ctrl-C stops services before NATS."""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
from pathlib import Path

from omnihub.cli.runtime import BACKING, SERVICES, Program, Runtime, find_root, programs, write_supervisor_config
from omnihub.testkit.waiting import eventually

# A stand-in process: notes each start (with its pid) and each stop (with the time) in its own file.
STUB = """
import os, signal, sys, time
name, notes = sys.argv[1], sys.argv[2]
def note(line):
    with open(os.path.join(notes, name), "a") as fh:
        fh.write(line + "\\n")
def stop(*_):
    note(f"stop {time.monotonic()}")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, lambda *_: note("sigint"))  # a Ctrl-C must never reach a child directly
note(f"start {os.getpid()}")
while True:
    time.sleep(0.1)
"""


def notes(directory: Path, name: str) -> list[list[str]]:
    path = directory / name
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def starts(directory: Path, name: str) -> list[int]:
    return [int(words[1]) for words in notes(directory, name) if words[0] == "start"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_killed_service_is_restarted_alone_and_ctrl_c_stops_nats_last(tmp_path: Path) -> None:
    rt = Runtime(tmp_path)
    log = tmp_path / "notes"
    log.mkdir()
    stub = tmp_path / "stub.py"
    stub.write_text(STUB)
    procs = [Program(name, [sys.executable, str(stub), name, str(log)], group)
             for name, group in (("nats", BACKING), ("sms", SERVICES), ("router", SERVICES))]
    conf = write_supervisor_config(rt, procs, env={"OMNIHUB_TEST": "1"}, stop_wait=5)
    supervisord = Path(sys.executable).parent / "supervisord"
    with (tmp_path / "supervisord.out").open("a") as out:
        sup = subprocess.Popen([str(supervisord), "-n", "-c", str(conf)], stdout=out,  # noqa: ASYNC220
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def started() -> bool:
            assert sup.poll() is None, (tmp_path / "supervisord.out").read_text()
            return all(starts(log, n) for n in ("nats", "sms", "router"))

        await eventually(started, timeout=30)
        (sms,), (router,), (nats,) = starts(log, "sms"), starts(log, "router"), starts(log, "nats")
        os.kill(sms, signal.SIGKILL)
        await eventually(lambda: len(starts(log, "sms")) == 2, timeout=30)
        assert alive(starts(log, "sms")[1]) and not alive(sms)
        assert starts(log, "router") == [router] and starts(log, "nats") == [nats]  # the others kept running
        assert alive(router) and alive(nats)

        os.killpg(sup.pid, signal.SIGINT)  # Ctrl-C: the terminal signals its whole foreground group
        await eventually(lambda: sup.poll() is not None, timeout=60)
        assert sup.returncode == 0
    finally:
        if sup.poll() is None:
            os.killpg(sup.pid, signal.SIGKILL)
    stopped = {name: float(next(w[1] for w in notes(log, name) if w[0] == "stop")) for name in ("nats", "sms", "router")}
    assert stopped["nats"] > max(stopped["sms"], stopped["router"])  # NATS (and SecantusDB) stop last
    assert all(["sigint"] not in notes(log, name) for name in stopped)
    assert not any(alive(pid) for name in stopped for pid in starts(log, name))
    assert "OMNIHUB_TEST" in conf.read_text() and oct(conf.stat().st_mode & 0o777) == "0o600"


def test_the_generated_config_runs_every_built_service_and_the_backing_servers_first(tmp_path: Path) -> None:
    root = find_root(Path(__file__).parent)
    rt = Runtime(root)
    procs = programs(rt, 4222, 27017, demo=True)
    conf = configparser.RawConfigParser()
    conf.read_string(write_supervisor_config(Runtime(tmp_path), procs).read_text())
    groups = {section.split(":", 1)[1]: conf[section] for section in conf.sections() if section.startswith("group:")}
    services = sorted(p.parent.name for p in root.glob("services/*/src/omnihub/*/__main__.py"))
    assert sorted(groups["services"]["programs"].split(",")) == services
    assert groups["backing"]["programs"] == "nats,mongo"
    priorities = {name: int(group["priority"]) for name, group in groups.items()}
    assert priorities["backing"] < priorities["sandboxes"] < priorities["services"] < priorities["demo"]
    assert conf["program:sms"]["command"].endswith("-m omnihub.sms")
    assert conf["program:sms"]["autorestart"] == "true"
