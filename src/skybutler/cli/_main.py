"""The ``skybutler`` click group and its error handling."""

from __future__ import annotations

import sys

import click

from skybutler.errors import SkyButlerError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """skybutler: store and find astronomical datasets."""
    ctx.obj = {"debug": debug}


@cli.command()
@click.argument("root", type=click.Path())
def demo(root: str) -> None:
    """Create a repository at ROOT, add a sample instrument, put and get a few datasets."""
    from skybutler.cli._demo import run_demo

    run_demo(root, click.echo)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: errors are one line on stderr with the error's exit code (tracebacks with --debug)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=args, prog_name="skybutler", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SkyButlerError as exc:
        if "--debug" in args:
            raise
        click.echo(f"error [{exc.code}]: {exc}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(0)
