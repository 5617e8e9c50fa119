"""Free TCP ports on loopback."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

_handed_out: set[int] = set()


def _ephemeral_floor() -> int:
    """The lowest port the kernel gives outgoing connections (32768 on Linux by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _port_range() -> tuple[int, int]:
    """This process's slice of the ports below the ephemeral range.

    Under pytest-xdist every worker gets its own slice, so two workers never pick the same port
    between one checking it and its server binding it.
    """
    floor = _ephemeral_floor()
    low = max(1024, floor - 12_000)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count <= 1:
        return low, floor
    index = int(worker[2:]) % count
    size = (floor - low) // count
    return low + index * size, low + (index + 1) * size


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago, for a server that binds it later.

    Chosen below the kernel's ephemeral range: a port from bind(0) can be taken by any outgoing
    connection's local end before the server binds it (an intermittent "address already in use").
    Never the same port twice in one process, and never one another xdist worker may pick.
    """
    low, high = _port_range()
    for _ in range(500):
        port = random.randrange(low, high)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 20.0) -> None:
    """Block until something accepts connections on host:port, or raise TimeoutError."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")
