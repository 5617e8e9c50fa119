"""The omnihub command-line tool."""

from __future__ import annotations

import os

import typer

app = typer.Typer(help="omnihub: omnichannel contact-center hub", no_args_is_help=True)


@app.command()
def version() -> None:
    """Print the omnihub version."""
    from importlib.metadata import version as pkg_version

    typer.echo(pkg_version("omnihub-cli"))


@app.command()
def up(
    nats_port: int = typer.Option(4222, envvar="OMNIHUB_NATS_PORT", help="NATS client port"),
    mongo_port: int = typer.Option(27017, envvar="OMNIHUB_MONGO_PORT", help="SecantusDB port"),
) -> None:
    """Start NATS, SecantusDB and every service locally (the same as `make run`)."""
    from omnihub.cli.runtime import up as run_up

    run_up(nats_port, mongo_port, demo=os.environ.get("OMNIHUB_DEMO", "1") != "0")
