"""Moving datasets between repositories: ``export`` to a file, ``import`` from one, ``transfer-datasets`` directly.

Thin wrappers over `Butler.export`, `Butler.import_` and `Butler.transfer_from`; each prints the library's
report (or one row of it with ``--format``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from skybutler.cli._ingest import TRANSFER_CHOICES
from skybutler.cli._options import (
    collections_option,
    complete_dataset_types,
    direct,
    find_refs,
    open_butler,
    repo_argument,
    resolve_collections,
    split_names,
    where_option,
)
from skybutler.cli._output import emit, format_option
from skybutler.cli._progress import progress_bar

if TYPE_CHECKING:
    from skybutler.butler import Butler

__all__ = ["export", "import_", "transfer_datasets"]

_EXPORT_TRANSFERS = ("copy", "link", "hardlink", "symlink", "relsymlink")

dataset_types_option = click.option(
    "--dataset-types", "-t", multiple=True, metavar="NAMES", shell_complete=complete_dataset_types,
    help="Dataset types (repeat or comma-separate; globs allowed); default: all.",
)  # fmt: skip


def _known_collections(butler: Butler, values: tuple[str, ...]) -> list[str] | None:
    """``--collections`` with globs expanded, each checked to exist (an export of a typo would be empty)."""
    from skybutler.errors import CollectionError

    names = resolve_collections(butler, values)
    for name in names:
        if not butler.query_collections(name):
            raise CollectionError(f"No collection named {name!r}; see `skybutler query-collections`.")
    return names or None


def _report_row(report: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(report, name) for name in fields}


@click.command()
@repo_argument
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@collections_option
@dataset_types_option
@where_option
@click.option("--directory", type=click.Path(file_okay=False, path_type=Path),
              help="Also copy the datasets' files into this directory (a .zip FILE holds them itself).")  # fmt: skip
@click.option("--transfer", type=click.Choice(_EXPORT_TRANSFERS), default=None,
              help="How files go into --directory  [default: copy].")  # fmt: skip
@click.option("--no-dimensions", is_flag=True, help="Leave the dimension records out of the file.")
@format_option
@click.pass_context
def export(
    ctx: click.Context, repo: str, file: Path, collections: tuple[str, ...], dataset_types: tuple[str, ...],
    where: str, directory: Path | None, transfer: str | None, no_dimensions: bool, fmt: str,
) -> None:  # fmt: skip
    """Export datasets to a YAML file or a zip archive.

    Write the datasets of REPO to FILE: a YAML document (FILE.yaml) the reference butler can read too, or a
    zip archive (FILE.zip) holding the document and the files.  --collections picks the collections
    (chains bring their children; their tags and certifications come along), --dataset-types and --where
    narrow the datasets; with none, the whole repository is exported.
    """
    butler = open_butler(ctx, repo)
    with progress_bar(ctx) as progress:
        report = butler.export(
            file, collections=_known_collections(butler, collections), dataset_types=split_names(dataset_types) or None,
            where=where, directory=directory, transfer=transfer, include_dimensions=not no_dimensions,
            progress=progress,
        )  # fmt: skip
    if fmt == "table":
        click.echo(f"{str(report)[0].upper()}{str(report)[1:]}.")
    else:
        fields = ("path", "datasets", "dimension_records", "dataset_types", "collections", "artifacts", "bytes")
        emit([_report_row(report, fields)], fmt)


@click.command("import")
@repo_argument
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--directory", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory of the exported files (default: none for YAML; a .zip FILE holds them).")  # fmt: skip
@click.option("--transfer", type=click.Choice([t for t in TRANSFER_CHOICES if t != "direct"]), default=None,
              help="How files come in from --directory or the archive  [default: auto, a copy].")  # fmt: skip
@click.option("--skip-existing", is_flag=True, help="Leave datasets that are here already (identical) as they are.")
@format_option
@click.pass_context
def import_(
    ctx: click.Context, repo: str, file: Path, directory: Path | None, transfer: str | None, skip_existing: bool,
    fmt: str,
) -> None:  # fmt: skip
    """Import an export file (ours or the reference butler's).

    Import FILE (YAML or a zip archive from `skybutler export`, or a YAML export of the reference butler)
    into REPO, all or nothing.  From plain YAML without --directory only the registry is filled: files
    already at their exported paths in REPO's datastore are recorded.
    """
    butler = open_butler(ctx, repo, writeable=True)
    with progress_bar(ctx) as progress:
        report = butler.import_(file, directory=directory, transfer=transfer, skip_existing=skip_existing,
                                progress=progress)  # fmt: skip
    if fmt == "table":
        click.echo(f"{str(report)[0].upper()}{str(report)[1:]}.")
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
    else:
        fields = ("source", "datasets", "skipped", "dimension_records", "dataset_types", "collections", "artifacts",
                  "notes")  # fmt: skip
        row = _report_row(report, fields)
        row["notes"] = "; ".join(report.notes)
        emit([row], fmt)
    if report.datasets == 0 and report.skipped == 0:  # "imported 0 dataset(s)" alone looked like a success
        click.echo(f"warning: {file} holds no datasets: its export selected none.", err=True)


@click.command()
@click.argument("source", metavar="SOURCE")
@click.argument("dest", metavar="DEST")
@dataset_types_option
@collections_option
@where_option
@click.option("--transfer", type=click.Choice([t for t in TRANSFER_CHOICES if t != "move"]), default="copy",
              show_default=True, help="How files reach DEST (direct: DEST refers to SOURCE's files).")  # fmt: skip
@click.option("--no-register-dataset-types", is_flag=True, help="Fail on a dataset type DEST lacks.")
@click.option("--no-transfer-dimensions", is_flag=True, help="Fail on a dimension record DEST lacks.")
@click.option("--associations", is_flag=True,
              help="Also carry the datasets' tags and certifications in the TAGGED and CALIBRATION collections "
                   "of --collections (chains: their children; without --collections: every collection).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="List what would be transferred and change nothing.")
@format_option
@click.pass_context
def transfer_datasets(
    ctx: click.Context, source: str, dest: str, dataset_types: tuple[str, ...], collections: tuple[str, ...],
    where: str, transfer: str, no_register_dataset_types: bool, no_transfer_dimensions: bool, associations: bool,
    dry_run: bool, fmt: str,
) -> None:  # fmt: skip
    """Copy datasets from one repository to another.

    Copy the selected datasets of SOURCE into DEST with the same IDs, bringing their dataset types, runs,
    dimension records and files.  Datasets already in DEST are skipped.  Without --collections every RUN of
    SOURCE is searched.  With --associations, their tags and certifications (with validity ranges) in the
    TAGGED and CALIBRATION collections of --collections come along too; chains are not re-created.
    """
    src = open_butler(ctx, source)
    dst = open_butler(ctx, dest, writeable=not dry_run)
    refs = find_refs(src, dataset_types, collections, where=where)[0]
    present = direct(dst, "transfer datasets").registry.datasets.existing([r.id for r in refs]) if refs else {}
    if dry_run:
        rows = [{"dataset_type": r.dataset_type.name, "run": r.run, "id": r.id, **r.data_id.required,
                 "action": "skip (in DEST)" if r.id in present else "transfer"} for r in refs]  # fmt: skip
        if fmt != "table":
            emit(rows, fmt)
            return
        click.echo(f"Would transfer {len(refs) - len(present)} dataset(s); {len(present)} already in DEST:")
        for r in refs:
            if r.id not in present:
                click.echo(f"  {r.dataset_type.name} {dict(r.data_id.required)} in {r.run} ({r.id})")
        click.echo("Dry run: nothing was changed.")
        return
    with progress_bar(ctx) as progress:
        done = dst.transfer_from(src, refs, transfer=transfer, register_dataset_types=not no_register_dataset_types,
                                 transfer_dimensions=not no_transfer_dimensions, progress=progress,
                                 collections=(split_names(collections) or ["*"]) if associations else None)  # fmt: skip
    if fmt != "table":
        emit([{"dataset_type": r.dataset_type.name, "run": r.run, "id": r.id, **r.data_id.required,
               "action": "skipped" if r.id in present else "transferred"} for r in done], fmt)  # fmt: skip
        return
    click.echo(f"Transferred {len(done) - len(present)} dataset(s) ({transfer}); {len(present)} already in DEST.")
