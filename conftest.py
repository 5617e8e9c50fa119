"""Root pytest configuration: the omnihub fixtures plugin, the repo root on sys.path, slow tests first."""

from __future__ import annotations

import sys
from collections.abc import Generator
from pathlib import Path

import pytest
from _pytest.nodeid import NodeId

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


@pytest.hookimpl(wrapper=True)  # around pytest-xdist's own hook, which reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Generator[None, None, None]:
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
    items.sort(key=rank)
    yield
    _name_xdist_groups(config, items)


def _name_xdist_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Name each `xdist_group` in the test's id, as pytest-xdist's `--dist loadgroup` expects.

    xdist 3.8 appends "@group" by assigning `item._nodeid`, which pytest 9.2 no longer reads (a node's id is
    now the structured `item._id`), so without this every grouped test went to any worker."""
    if not getattr(config.option, "loadgroup", False):  # set on the workers of `--dist loadgroup` only
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if names and "@" not in item.nodeid.rsplit("]", 1)[-1]:
            item._id = _grouped(NodeId.parse(item.nodeid), "_".join(names))


def _grouped(node: NodeId, group: str) -> NodeId:
    """The id with "@group" at its very end: the parameters move into the last name, since a NodeId with
    parameters always prints them last, and xdist reads the group only after the last "]"."""
    last = node.names[-1] + (f"[{node.params}]" if node.params is not None else "")
    return NodeId(path=node.path, names=(*node.names[:-1], f"{last}@{group}"))
