"""The omnihub command-line tool."""

import typer

app = typer.Typer(help="omnihub: omnichannel contact-center hub", no_args_is_help=True)


@app.command()
def version() -> None:
    """Print the omnihub version."""
    from importlib.metadata import version as pkg_version

    typer.echo(pkg_version("omnihub-cli"))
