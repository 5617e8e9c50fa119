"""Run omnihub services as real subprocesses for cross-service tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from omnihub.testkit.servers import ChildProcess

# A service imports grpc, protobuf and pydantic before it logs a line: on two cores shared with three other
# test workers' hubs that took over 60 s (the log was still empty), so a start waits up to two minutes.
READY_TIMEOUT_SECONDS = 120.0


class ServiceProcess(ChildProcess):
    """`python -m omnihub.<name>` with the given environment, ready once /readyz answers 200."""

    def __init__(self, name: str, env: dict[str, str], *, ready_url: str | None = None) -> None:
        self.name = name
        self.env = {**os.environ, "OMNIHUB_LOG_FORMAT": "json", **env}
        self.ready_url = ready_url
        self.log_path = Path(tempfile.mkdtemp(prefix=f"omnihub-{name}-")) / f"{name}.log"

    def start(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Start the service and wait until it is ready (or its port answers)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"omnihub.{self.name}"], env=self.env, stdout=log, stderr=log
        )
        if self.ready_url:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Poll the readiness URL until it answers 200, or fail with the service's log tail."""
        assert self.ready_url
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready at {self.ready_url}:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        """The end of the service's log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
