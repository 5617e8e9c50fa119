"""The omnihub command line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from omnihub.cli.main import app


def test_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0 and result.stdout.strip() == "0.1.0"


def test_staffing_json_matches_erlang_c_table() -> None:
    result = CliRunner().invoke(app, ["staffing", "--arrivals", "100", "--interval", "30m", "--aht", "180",
                                      "--target", "0.8/20", "--shrinkage", "0.3", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["agents"] == 14 and data["scheduled_agents"] == 20 and data["traffic_erlangs"] == 10.0


def test_the_cli_says_what_is_wrong_and_exits_2() -> None:
    for args, words in ((["--target", "1.5/20"], "(0, 1)"), (["--interval", "7m"], "interval"),
                        (["--target", "eighty"], "fraction/seconds"), (["--shrinkage", "1"], "shrinkage")):
        result = CliRunner().invoke(app, ["staffing", "--arrivals", "100", "--aht", "180", *args])
        assert result.exit_code == 2 and words in result.output, (args, result.output)
