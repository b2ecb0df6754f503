"""Dataset type commands: register, remove and query."""

from __future__ import annotations

import click

from skybutler.cli._options import confirm, dataset_type_argument, open_butler, repo_argument, yes_dry_run_options
from skybutler.cli._output import emit, format_option

__all__ = ["query_dataset_types", "register_dataset_type", "remove_dataset_type"]


@click.command()
@repo_argument
@click.argument("name")
@click.argument("storage_class")
@click.argument("dimensions", nargs=-1)
@click.option("--is-calibration", is_flag=True, help="Its datasets are certified into CALIBRATION collections.")
@click.option(
    "--format",
    "--file-format",
    "file_format",
    metavar="NAME",
    help="File format its datasets are written in (a formatter: fits, hdf5, parquet, ...), recorded in the "
    "registry; it wins over datastore.formatters in butler.yaml.  Default: the configuration chooses.",
)
@click.pass_context
def register_dataset_type(
    ctx: click.Context,
    repo: str,
    name: str,
    storage_class: str,
    dimensions: tuple[str, ...],
    is_calibration: bool,
    file_format: str | None,
) -> None:
    """Register a dataset type.

    Register dataset type NAME of STORAGE_CLASS with DIMENSIONS (a no-op when it exists identically).

    Example: skybutler register-dataset-type REPO src AstropyTable instrument visit detector --format hdf5
    """
    butler = open_butler(ctx, repo, writeable=True)
    new = name not in {dt.name for dt in butler.query_dataset_types(name)}
    dataset_type = butler.register_dataset_type(
        name, dimensions, storage_class, is_calibration=is_calibration, format=file_format
    )
    click.echo(f"{'Registered' if new else 'Already registered:'} {dataset_type.describe()}.")


@click.command()
@repo_argument
@dataset_type_argument("names", nargs=-1)
@yes_dry_run_options
@click.pass_context
def remove_dataset_type(ctx: click.Context, repo: str, names: tuple[str, ...], yes: bool, dry_run: bool) -> None:
    """Remove dataset types that have no datasets.

    Remove dataset types NAMES (globs allowed) that have no datasets left.
    """
    from skybutler.errors import ConflictError, DatasetTypeError

    butler = open_butler(ctx, repo, writeable=True)
    found: list[str] = []
    for pattern in names:
        matched = [dt.name for dt in butler.query_dataset_types(pattern)]
        if not matched and not set("*?[") & set(pattern):
            raise DatasetTypeError(f"Dataset type {pattern!r} is not registered; see `skybutler query-dataset-types`.")
        found += [m for m in matched if m not in found]
    # Check every type before removing any (and in a dry run too): one refused type must not leave the
    # others half removed.  Each dataset is in exactly one RUN, so counting over all runs counts them all.
    runs = butler.query_collections(types=["RUN"])
    counts = {n: butler.query_datasets(n, collections=runs, find_first=False).count() if runs else 0 for n in found}
    if busy := [f"{n!r} still has {c} dataset(s)" for n, c in counts.items() if c]:
        raise ConflictError(
            f"Dataset type {', '.join(busy)}; remove them first (prune-datasets or remove-runs), then remove the "
            "type (nothing was removed)."
        )
    if not confirm([f"dataset type {n}" for n in found], "remove these dataset types", yes=yes, dry_run=dry_run):
        return
    for name in found:
        butler.remove_dataset_type(name)
    click.echo(f"Removed {len(found)} dataset type(s).")


@click.command()
@repo_argument
@dataset_type_argument("patterns", nargs=-1, required=False)
@format_option
@click.pass_context
def query_dataset_types(ctx: click.Context, repo: str, patterns: tuple[str, ...], fmt: str) -> None:
    """List dataset types.

    List dataset types whose names match PATTERNS (globs; default: all).  The format column shows the
    file format registered with a type; empty (null) means the repository configuration chooses.
    """
    butler = open_butler(ctx, repo)
    rows = [
        {
            "name": dt.name,
            "dimensions": " ".join(dt.dimensions.required),
            "storage_class": dt.storage_class,
            "is_calibration": dt.is_calibration,
            "format": dt.format,
        }
        for dt in butler.query_dataset_types(list(patterns) or "*")
    ]
    emit(rows, fmt, title="Dataset types", empty="No dataset types match.")
