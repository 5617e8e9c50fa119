"""Root pytest configuration: the omnihub fixtures plugin for every test directory."""

pytest_plugins = ["omnihub.testkit.pytest_plugin"]
