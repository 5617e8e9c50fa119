"""Root pytest configuration: the omnihub fixtures plugin, and the repo root on sys.path for tests.fakes."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

pytest_plugins = ["omnihub.testkit.pytest_plugin"]
