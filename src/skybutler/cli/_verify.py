"""Checking and housekeeping of stored files: ``verify`` (sizes and checksums) and ``cache`` (remote-read cache)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from skybutler.cli._options import collections_option, confirm, direct, open_butler, repo_argument
from skybutler.cli._output import emit, format_option
from skybutler.cli._progress import progress_bar
from skybutler.cli._transfer import dataset_types_option

if TYPE_CHECKING:
    from skybutler.butler import Butler
    from skybutler.datastore._cache import ArtifactCache

__all__ = ["cache", "human_bytes", "verify"]


def human_bytes(size: int) -> str:
    """``1536`` -> ``"1.5 KiB"``: sizes for people (the script formats print plain byte counts)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


@click.command()
@repo_argument
@collections_option
@dataset_types_option
@format_option
@click.pass_context
def verify(
    ctx: click.Context, repo: str, collections: tuple[str, ...], dataset_types: tuple[str, ...], fmt: str
) -> None:
    """Check files against their recorded sizes and checksums.

    Re-read the files of REPO's datasets and compare their sizes and checksums with the registry's records.
    Without --collections and --dataset-types every dataset is checked and files no dataset refers to are
    listed too (`skybutler reconcile --remove-unknown` deletes those).  Read-only.  Exit status 1 when a file
    is missing or corrupt.
    """
    from skybutler.cli._options import find_refs

    butler = open_butler(ctx, repo)
    refs = None
    if collections or dataset_types:
        refs = find_refs(butler, dataset_types, collections, find_first=False)[0]
    with progress_bar(ctx) as progress:
        report = butler.verify(refs, progress=progress)
    rows: list[dict[str, Any]] = [
        *({"status": "missing", "id": i, "uri": uri, "detail": None} for i, uri in report.missing),
        *({"status": "corrupt", "id": i, "uri": uri, "detail": why} for i, uri, why in report.corrupt),
        *({"status": "unknown", "id": None, "uri": path, "detail": "no dataset refers to it"}
          for path in report.unknown),
    ]  # fmt: skip
    if fmt == "table":
        click.echo(str(report).splitlines()[0] + ".")
        if rows:
            emit(rows, fmt, title="Problems")
    else:
        emit(rows, fmt)
    if report.problems:
        click.echo(f"{report.problems} file(s) missing or corrupt; restore them from a copy, or remove the "
                   "datasets (skybutler prune-datasets).", err=True)  # fmt: skip
        ctx.exit(1)


def _cache_of(butler: Butler) -> tuple[ArtifactCache | None, bool]:
    """The repository's cache (or None when none is configured), and whether reads use it (remote storage)."""
    from skybutler.datastore._cache import ArtifactCache

    datastore = direct(butler, "inspect the local cache").datastore
    files = datastore.file_datastore()  # a chained datastore's first file child
    if files is not None and files.cache is not None:
        return files.cache, True
    config = (datastore if files is None else files).config.cache
    if config.directory is None:
        return None, False
    return ArtifactCache(Path(config.directory).expanduser(), config.max_bytes), False


@click.command()
@repo_argument
@click.argument("action", type=click.Choice(["status", "clear"]))
@click.option("--yes", "-y", is_flag=True, help="Do not ask before clear deletes the cached files.")
@format_option
@click.pass_context
def cache(ctx: click.Context, repo: str, action: str, yes: bool, fmt: str) -> None:
    """Show or clear the local cache of remote reads.

    status: the cache directory of REPO (datastore.cache in butler.yaml or SKYBUTLER_* settings), its size,
    its bound and how many files it holds.  clear: delete the cached files (asks first; --yes does not).
    The cache holds copies only: clearing it loses nothing.
    """
    butler = open_butler(ctx, repo)
    found, used = _cache_of(butler)
    if found is None:  # the script formats print their empty result, and the reason on stderr
        if fmt != "table":
            emit([], fmt)
        click.echo("No cache: datastore.cache.directory is not set for this repository.", err=fmt != "table")
        return
    status = found.status()
    if action == "clear":
        what = [f"{status.files} file(s), {human_bytes(status.bytes)} in {status.directory}"]
        if not status.files:
            click.echo(f"The cache at {status.directory} is empty: nothing was deleted.")
        elif confirm(what, "delete the cached files", yes=yes, dry_run=False):
            click.echo(f"Deleted {found.clear()} cached file(s).")
        return
    row: dict[str, Any] = {"directory": str(status.directory), "files": status.files, "bytes": status.bytes,
                           "max_bytes": status.max_bytes, "used": used}  # fmt: skip
    if fmt != "table":
        emit([row], fmt)
        return
    percent = 100 * status.bytes / status.max_bytes
    click.echo(f"directory: {status.directory}")
    click.echo(f"size:      {human_bytes(status.bytes)} of {human_bytes(status.max_bytes)} ({percent:.1f} %)")
    click.echo(f"entries:   {status.files} file(s)")
    if not used:
        click.echo("note: this repository's files are local, so its reads do not go through the cache.")
