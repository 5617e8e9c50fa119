"""Root pytest configuration: the omnihub fixtures plugin, the repo root on sys.path, slow tests first."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for tests.e2e.hub

pytest_plugins = ["omnihub.testkit.pytest_plugin"]


def _module_fixture_group(item: pytest.Item) -> str | None:
    """The test module's name when the test uses a module-scoped fixture defined in that module (a hub)."""
    info = getattr(item, "_fixtureinfo", None)
    module = getattr(item, "module", None)
    if info is None or module is None:
        return None
    for defs in info.name2fixturedefs.values():
        last = defs[-1]
        if last.scope == "module" and getattr(last.func, "__module__", None) == module.__name__:
            return str(module.__name__)
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks (--dist loadgroup)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep each module that starts one hub for all its tests on one xdist worker, so the hub starts once
    rather than once per worker that picks up one of its tests.

    Put `slow`, then `browser` tests first, so pytest-xdist starts the long ones on separate workers
    at once instead of finding them at the end of one worker's queue."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("slow"):
            return 0
        return 1 if item.get_closest_marker("browser") else 2

    for item in items if config.pluginmanager.hasplugin("xdist") else ():
        group = _module_fixture_group(item)
        if group and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=rank)  # stable: the order within each rank stays the collection order
