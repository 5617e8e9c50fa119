"""Root pytest configuration: the omnihub fixtures plugin, the repo root on sys.path, slow tests first."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for tests.e2e.hub

pytest_plugins = ["omnihub.testkit.pytest_plugin"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put `slow`, then `browser` tests first, so pytest-xdist starts the long ones on separate workers
    at once instead of finding them at the end of one worker's queue."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("slow"):
            return 0
        return 1 if item.get_closest_marker("browser") else 2

    items.sort(key=rank)  # stable: the order within each rank stays the collection order
