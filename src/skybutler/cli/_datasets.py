"""Dataset commands: prune (remove datasets and files) and retrieve artifacts (copy files out)."""

from __future__ import annotations

from pathlib import Path

import click

from skybutler.cli._options import (
    collections_option,
    confirm,
    data_id_option,
    dataset_type_argument,
    find_refs,
    limit_option,
    open_butler,
    repo_argument,
    where_option,
    yes_dry_run_options,
)

__all__ = ["prune_datasets", "retrieve_artifacts"]


@click.command()
@repo_argument
@dataset_type_argument("dataset_types", nargs=-1, required=True)
@collections_option
@where_option
@data_id_option
@click.option("--find-all", is_flag=True, help="Every match along --collections, not only the first per data ID.")
@click.option("--even-if-used", is_flag=True, help="Remove datasets that others record as inputs (lineage keeps them).")
@yes_dry_run_options
@click.pass_context
def prune_datasets(
    ctx: click.Context, repo: str, dataset_types: tuple[str, ...], collections: tuple[str, ...], where: str,
    data_id: tuple[str, ...], find_all: bool, even_if_used: bool, yes: bool, dry_run: bool,
) -> None:  # fmt: skip
    """Remove datasets and their files.

    Remove datasets of DATASET_TYPES (names or globs) that match, with their files, from every collection.

    Select them with --collections (default: every RUN), --where and --data-id; run with --dry-run first.
    """
    butler = open_butler(ctx, repo, writeable=True)
    refs = find_refs(butler, dataset_types, collections, where=where, data_id=data_id,
                          find_first=not find_all)[0]  # fmt: skip
    lines = [f"{r.dataset_type.name} {dict(r.data_id.required)} in {r.run} ({r.id})" for r in refs]
    if confirm(lines, f"remove {len(refs)} dataset(s) and their files", yes=yes, dry_run=dry_run):
        removed = butler.remove(refs, even_if_used=even_if_used)
        click.echo(f"Removed {removed} dataset(s).")


@click.command()
@repo_argument
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
@dataset_type_argument("dataset_types", nargs=-1, required=False)
@collections_option
@where_option
@data_id_option
@limit_option
@click.option("--overwrite", is_flag=True, help="Replace files that exist in DESTINATION.")
@click.pass_context
def retrieve_artifacts(
    ctx: click.Context, repo: str, destination: Path, dataset_types: tuple[str, ...], collections: tuple[str, ...],
    where: str, data_id: tuple[str, ...], limit: int | None, overwrite: bool,
) -> None:  # fmt: skip
    """Copy datasets' files into a local directory.

    Copy the files of the selected datasets into the local directory DESTINATION, at their repository paths.
    """
    butler = open_butler(ctx, repo)
    refs = find_refs(butler, dataset_types, collections, where=where, data_id=data_id, limit=limit)[0]
    paths = butler.retrieve_artifacts(refs, destination, overwrite=overwrite)
    for path in paths:
        click.echo(path)
    click.echo(f"Copied {len(paths)} file(s) into {destination}.", err=True)
