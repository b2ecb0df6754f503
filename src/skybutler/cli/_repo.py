"""Repository commands: create, config (or --validate), migrate, reconcile, demo, and shell completion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from skybutler.cli._options import confirm, direct, open_butler, read_text, repo_argument
from skybutler.cli._output import emit, format_option

__all__ = ["completion", "config", "create", "demo", "migrate", "reconcile"]


@click.command()
@repo_argument
@click.option("--registry", metavar="URL", help="Database URL (default: a SQLite file in the repository).")
@click.option("--schema", metavar="NAME", help="PostgreSQL schema for this repository's tables.")
@click.option("--universe", metavar="NAME|PATH", help="Dimension universe: a plug-in name or a YAML file.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML file of more configuration for butler.yaml (templates, formatters, ...).",
)
def create(repo: str, registry: str | None, schema: str | None, universe: str | None, config_file: Path | None) -> None:
    """Create a new, empty repository.

    Create a new, empty repository at REPO.
    """
    import yaml

    from skybutler.butler import Butler
    from skybutler.errors import ConfigError

    extra = None
    if config_file is not None:
        try:
            extra = yaml.safe_load(read_text(config_file)) or {}
        except yaml.YAMLError as exc:  # the user's file: a config error (exit 1), not an internal one (70)
            raise ConfigError(f"{config_file} is not valid YAML: {' '.join(str(exc).split())}") from None
        if not isinstance(extra, dict):
            raise ConfigError(f"{config_file} must hold a YAML mapping of configuration, not {type(extra).__name__}.")
    root = Butler.create(repo, registry=registry, schema=schema, universe=universe, config=extra)
    click.echo(f"Created a repository at {root}.")


@click.command(context_settings={"allow_extra_args": True})
@repo_argument
@click.option("--validate", is_flag=True, help="Check it instead: keys, templates, a formatter for every dataset type.")
@click.option("--format", "-f", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.pass_context
def config(ctx: click.Context, repo: str, validate: bool, fmt: str) -> None:
    """Show or check a repository's configuration.

    Print REPO's effective configuration (butler.yaml with defaults and SKYBUTLER_* overrides applied), or
    with --validate check it: its keys, file templates, and a formatter and template for every dataset type.
    """
    if repo in ("dump", "validate") and len(ctx.args) == 1:  # the old spelling, `config dump REPO`: still works
        repo, validate = ctx.args[0], repo == "validate"
    elif ctx.args:
        raise click.UsageError(f"Got unexpected extra argument(s): {' '.join(ctx.args)}.")
    if validate:
        _validate_config(repo)
        return
    from skybutler.butler import read_config
    from skybutler.config import config_data, dump_config

    _, cfg = read_config(repo)
    if fmt == "json":
        click.echo(json.dumps(config_data(cfg), indent=2, default=str))
    else:
        click.echo(dump_config(cfg), nl=False)


def _validate_config(repo: str) -> None:
    """``config --validate``: a `ConfigError` listing every dataset type the configuration cannot store."""
    from skybutler.butler import read_config
    from skybutler.datastore import FileTemplate
    from skybutler.errors import ConfigError, SkyButlerError

    _, cfg = read_config(repo)
    for template in cfg.datastore.templates.values():
        FileTemplate(template)
    ctx = click.get_current_context()
    butler = open_butler(ctx, repo)
    problems = []
    types = butler.query_dataset_types()
    datastore = direct(butler, "validate the datastore configuration").datastore
    for dataset_type in types:
        try:
            datastore.validate(dataset_type)
        except SkyButlerError as exc:
            problems.append(f"{dataset_type.name}: {exc}")
    if problems:
        raise ConfigError(f"{len(problems)} dataset type(s) cannot be stored: " + "; ".join(problems))
    click.echo(
        f"Configuration valid: {len(cfg.datastore.templates)} template(s), {len(types)} dataset type(s) checked."
    )


@click.command()
@repo_argument
@click.option("--dry-run", is_flag=True, help="List the pending schema revisions and change nothing.")
def migrate(repo: str, dry_run: bool) -> None:
    """Upgrade the registry schema (Alembic).

    Upgrade REPO's registry schema to this version of skybutler (Alembic).
    """
    from skybutler.butler import migrate_repository

    revisions = migrate_repository(repo, dry_run=dry_run)
    if not revisions:
        click.echo("The registry schema is current; nothing to do.")
    elif dry_run:
        click.echo(f"Would apply revision(s) {', '.join(revisions)}. Dry run: nothing was changed.")
    else:
        click.echo(f"Applied revision(s) {', '.join(revisions)}.")


@click.command()
@repo_argument
@click.option("--grace", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="Keep staging and unknown files younger than this (seconds): a writer may be at work.")  # fmt: skip
@click.option("--remove-unknown", is_flag=True,
              help="Also delete files no registered dataset refers to (older than --grace).")  # fmt: skip
@click.option("--yes", "-y", is_flag=True, help="Do not ask before --remove-unknown deletes files.")
@format_option
def reconcile(repo: str, grace: float, remove_unknown: bool, yes: bool, fmt: str) -> None:
    """Repair what crashes left behind.

    Repair what crashes left in REPO: finish or undo interrupted writes, empty the trash.
    """
    butler = open_butler(click.get_current_context(), repo, writeable=True)
    if remove_unknown:  # first the repairs and the list: the question names what would go, then the deletion
        unknown = butler.reconcile(grace_seconds=grace, remove_unknown=False).unknown
        if not unknown:
            click.echo("No unknown files: nothing to delete.", err=True)
            remove_unknown = False
        elif not confirm(_unknown_summary(butler, unknown), f"delete {len(unknown)} unknown file(s)", yes=yes,
                         dry_run=False):  # fmt: skip
            return
    report = butler.reconcile(grace_seconds=grace, remove_unknown=remove_unknown)
    kinds = ["promoted", "removed_staging", "removed_trash", "unknown", "missing", "pending", "problems"]
    if fmt == "table":
        emit([{"what": k.replace("_", " "), "files": len(getattr(report, k))} for k in kinds], fmt)
    else:
        emit([{"what": k, "path": p} for k in kinds for p in getattr(report, k)], fmt)


def _unknown_summary(butler: Any, keys: list[str], shown: int = 10) -> list[str]:
    """The lines that ask about deleting unknown files: how many, how big (where sizes can be had), the first."""
    from skybutler.cli._verify import human_bytes

    transport = getattr(butler.datastore, "transport", None)
    total: int | None = 0
    for key in keys:
        try:
            total = None if transport is None or total is None else total + transport.size(key)
        except Exception:  # a size we cannot read: say nothing of the total rather than a wrong one
            total = None
    head = f"{len(keys)} file(s) no dataset refers to" + ("" if total is None else f", {human_bytes(total)} in all")
    more = [f"... and {len(keys) - shown} more"] if len(keys) > shown else []
    return [head + ":", *(f"  {key}" for key in keys[:shown]), *more]


@click.command()
@click.argument("root", type=click.Path())
@click.option("--sky", is_flag=True, help="Make a small sky instead: visits, detectors and patches with regions.")
def demo(root: str, sky: bool) -> None:
    """Create a sample repository and use it.

    Create a repository at ROOT, add a sample instrument, put and get a few datasets.  With --sky, the
    repository of docs/spatial.md: three visits of four detectors and a sky map, with their sky regions.
    """
    from skybutler.cli._demo import run_demo, run_sky_demo

    (run_sky_demo if sky else run_demo)(root, click.echo)


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script.

    Print the shell completion script for SHELL (commands, options, collection and dataset type names).

    Add to ~/.bashrc: eval "$(skybutler completion bash)"
    """
    from click.shell_completion import get_completion_class

    from skybutler.cli._main import cli

    cls = get_completion_class(shell)
    assert cls is not None  # the choices are the shells click supports
    click.echo(cls(cli, {}, "skybutler", "_SKYBUTLER_COMPLETE").source())
