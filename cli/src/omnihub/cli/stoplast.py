"""Run a backing server (NATS, SecantusDB) so that it stops after the services that use it.

`omnihub up` runs everything under honcho, which signals every process at once on Ctrl-C (and the
terminal sends SIGINT to the whole foreground group). The services would then lose NATS and
MongoDB while they flush, hand back held messages and hand over leadership. This wrapper starts the
server in a session of its own, out of the terminal's reach, and passes a stop on only after
`grace` seconds, within the 5 s honcho waits before it kills.

    python -m omnihub.cli.stoplast 2.0 nats-server -js ...
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from types import FrameType


def run(grace: float, command: list[str]) -> int:
    """Run `command`; on SIGTERM or SIGINT, terminate it `grace` seconds later. Returns its exit code."""
    child = subprocess.Popen(command, start_new_session=True)
    timer: threading.Timer | None = None

    def on_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal timer
        if timer is None:
            timer = threading.Timer(grace, child.terminate)
            timer.daemon = True
            timer.start()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    code = child.wait()
    if timer is not None:
        timer.cancel()
    return code


def main() -> None:
    """Console entry: `stoplast GRACE COMMAND...`."""
    if len(sys.argv) < 3:
        sys.exit("usage: python -m omnihub.cli.stoplast GRACE_SECONDS COMMAND [ARGS...]")
    sys.exit(run(float(sys.argv[1]), sys.argv[2:]))


if __name__ == "__main__":
    main()
