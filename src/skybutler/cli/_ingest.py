"""Ingest commands: files listed in a table (``ingest-files``) and raw FITS files by their headers (``ingest-raws``).

Both are thin wrappers over `Butler.ingest` and `Butler.ingest_raws`; what a command adds is reading its input
(a table of paths and data IDs, or directories to search) and reporting the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from skybutler.cli._options import merged_data_id, open_butler, read_text, repo_argument, yaml_rows
from skybutler.cli._output import emit, format_option
from skybutler.cli._progress import progress_bar

if TYPE_CHECKING:
    from skybutler.transfer import FileDataset

__all__ = ["TRANSFER_CHOICES", "ingest_files", "ingest_raws", "read_file_table"]

#: Ingest transfer modes (skybutler.transfer.TRANSFER_MODES, repeated so ``--help`` need not import it).
TRANSFER_CHOICES = ("auto", "copy", "move", "link", "hardlink", "symlink", "relsymlink", "direct")

transfer_option = click.option(
    "--transfer", type=click.Choice(TRANSFER_CHOICES), default="auto", show_default=True,
    help="How files come in: auto (in place inside the datastore, a hard link on the same file system, else a "
    "copy), copy, move, link, hardlink, symlink, relsymlink, or direct (registered where they are).",
)  # fmt: skip


def read_file_table(path: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """Rows of a table of files: each a mapping with ``path`` and data ID values.

    The table is CSV (a header row; lines starting with ``#`` are comments), ECSV (astropy's enhanced CSV,
    recognised by its ``# %ECSV`` first line; read with astropy, whatever its delimiter) or YAML (a list of
    mappings, or ``{files: [...]}``).  Empty cells are left out of the row; CSV values stay text and are typed
    by the dimensions' fields on ingest.

    Raises
    ------
    ConfigError
        The file cannot be read as either format, or a row has no ``path``.
    """
    from skybutler.errors import ConfigError

    # utf-8-sig: spreadsheets save "CSV UTF-8" with a byte order mark, which would become part of the first
    # column's name ('\ufeffpath').
    text = read_text(path, encoding="utf-8-sig")
    kind = kind or ("yaml" if path.suffix.lower() in (".yaml", ".yml") else "csv")
    rows: list[dict[str, Any]]
    if kind == "csv" and text.startswith("# %ECSV"):
        rows = _read_ecsv(text, path)
    elif kind == "csv":
        import csv

        lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        rows = [{k.strip(): v.strip() for k, v in raw.items() if k is not None and v not in (None, "")}
                for raw in csv.DictReader(lines)]  # fmt: skip
    else:
        rows = yaml_rows(text, path, "files", "mappings (path: ..., plus data ID keys)")
    for i, row in enumerate(rows, start=1):
        if not row.get("path"):
            raise ConfigError(f"Row {i} of {path} has no 'path'; every row names its file in a 'path' column.")
    return rows


def _read_ecsv(text: str, path: Path) -> list[dict[str, Any]]:
    """Rows of an ECSV table (astropy, imported only here); masked cells are left out."""
    from skybutler.errors import ConfigError, MissingDependencyError

    try:
        from astropy.io import ascii as astropy_ascii
    except ImportError:
        raise MissingDependencyError(
            f"{path} is ECSV, which needs astropy: pip install astropy (or write plain CSV)."
        ) from None
    try:
        table = astropy_ascii.read(text, format="ecsv")
    except Exception as exc:  # astropy raises several kinds for a malformed header
        raise ConfigError(f"{path} is not valid ECSV: {' '.join(str(exc).split())}") from None
    import numpy as np

    rows = []
    for record in table:
        row = {name: record[name] for name in table.colnames if record[name] is not np.ma.masked}
        rows.append({k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()})
    return rows


def _datasets(
    rows: Iterable[dict[str, Any]], dataset_type: str, prefix: Path, common: dict[str, str], formatter: str | None
) -> list[FileDataset]:
    """One `FileDataset` per row; relative paths are taken from ``prefix``, ``--data-id`` values fill gaps."""
    from skybutler.transfer import FileDataset

    out = []
    for row in rows:
        values = dict(row)
        raw = str(values.pop("path"))
        path = raw if "://" in raw or Path(raw).is_absolute() else str(prefix / raw)
        row_formatter = values.pop("formatter", None) or formatter
        out.append(FileDataset(path, dataset_type=dataset_type, data_id={**common, **values}, formatter=row_formatter))
    return out


@click.command()
@repo_argument
@click.argument("table", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--dataset-type", required=True, metavar="NAME", help="Registered dataset type of every file.")
@click.option("--run", required=True, metavar="RUN", help="RUN collection to ingest into (created if needed).")
@transfer_option
@click.option("--data-id", "-d", "data_id", multiple=True, metavar="KEY=VALUE,...",
              help="Data ID values shared by every row, e.g. instrument=Cam (repeatable).")  # fmt: skip
@click.option("--prefix", type=click.Path(file_okay=False, path_type=Path),
              help="Directory relative paths in TABLE start from (default: TABLE's directory).")  # fmt: skip
@click.option("--table-format", type=click.Choice(["csv", "yaml"]), help="Format of TABLE (default: by suffix).")
@click.option("--formatter", metavar="NAME", help="Formatter that reads the files (default: the repository's).")
@click.option("--skip-existing", is_flag=True, help="Leave datasets that are registered already.")
@click.option("--id-mode", type=click.Choice(["random", "deterministic", "deterministic-no-run"]), default="random",
              show_default=True, help="Dataset IDs: random, or a UUID5 of type + data ID (+ run).")  # fmt: skip
@click.option("--checksum/--no-checksum", default=None,
              help="Read direct files for a checksum too (--checksum), or record sizes only (--no-checksum); "
                   "default: checksums of the files the datastore takes in, sizes of direct ones.")  # fmt: skip
@format_option
@click.pass_context
def ingest_files(
    ctx: click.Context, repo: str, table: Path, dataset_type: str, run: str, transfer: str, data_id: tuple[str, ...],
    prefix: Path | None, table_format: str | None, formatter: str | None, skip_existing: bool, id_mode: str,
    checksum: bool | None, fmt: str,
) -> None:  # fmt: skip
    """Ingest existing files listed in a table.

    Register the files listed in TABLE as datasets of --dataset-type in --run.  TABLE is CSV (a header
    row with a 'path' column and one column per data ID key; '#' lines are comments), ECSV (read with
    astropy) or YAML (a list of mappings with 'path' and the data ID keys).  An optional 'formatter'
    column overrides --formatter per file.  --data-id gives values common to every row (e.g.
    instrument=Cam).  '-' reads TABLE from stdin.

    Everything is checked before a file moves: a missing file, unknown data ID or existing dataset (without
    --skip-existing) ingests nothing.
    """
    rows = read_file_table(table, table_format)
    if not rows:  # an empty table reported success, having ingested nothing
        from skybutler.errors import ConfigError

        raise ConfigError(f"{table} lists no files; nothing was ingested.")
    base = prefix if prefix is not None else (Path.cwd() if str(table) == "-" else table.resolve().parent)
    datasets = _datasets(rows, dataset_type, base, merged_data_id(data_id), formatter)
    butler = open_butler(ctx, repo, writeable=True)
    with progress_bar(ctx) as progress:
        refs = butler.ingest(*datasets, transfer=transfer, run=run, skip_existing=skip_existing, id_mode=id_mode,
                             progress=progress, checksum=checksum)  # fmt: skip
    if fmt != "table":
        emit([{"dataset_type": r.dataset_type.name, "run": r.run, "id": r.id, **r.data_id.required}
              for r in refs], fmt)  # fmt: skip
        return
    skipped = " (or found registered already)" if skip_existing else ""
    click.echo(f"Ingested {len(refs)} file(s) as {dataset_type} into {run} ({transfer}){skipped}.")


def _expand(paths: Iterable[Path], pattern: str) -> list[Path]:
    """Files given, and the files under directories given whose names match ``pattern``, sorted per directory."""
    out: list[Path] = []
    for path in paths:
        out.extend(sorted(p for p in path.rglob(pattern) if p.is_file()) if path.is_dir() else [path])
    return out


@click.command()
@repo_argument
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--instrument", metavar="NAME", help="Instrument name, when the headers do not give it.")
@click.option("--translator", default="generic", show_default=True, metavar="NAME",
              help="Metadata translator plug-in that reads the headers.")  # fmt: skip
@click.option("--run", metavar="RUN", help="RUN collection to ingest into (default: <instrument>/raw/all).")
@transfer_option
@click.option("--pattern", default="*.fits*", show_default=True, metavar="GLOB",
              help="Files to take from directories in PATHS (searched recursively).")  # fmt: skip
@format_option
@click.pass_context
def ingest_raws(
    ctx: click.Context, repo: str, paths: tuple[Path, ...], instrument: str | None, translator: str,
    run: str | None, transfer: str, pattern: str, fmt: str,
) -> None:  # fmt: skip
    """Ingest raw FITS files by their headers.

    Ingest the raw FITS files in PATHS (files, or directories searched for --pattern): each primary header
    gives the exposure, visit, detector and filter records and one 'raw' dataset.  Files ingested before
    are skipped, so re-running is safe.  A file that cannot be translated is reported with the reason, and
    nothing of it is ingested; the exit status is then 1.
    """
    files = _expand(paths, pattern)
    if not files:  # a folder without raws was reported as a success that ingested nothing
        from skybutler.errors import ConfigError

        folders = ", ".join(str(p) for p in paths)
        raise ConfigError(f"No file in {folders} matches --pattern {pattern!r}; nothing was ingested.")
    butler = open_butler(ctx, repo, writeable=True)
    with progress_bar(ctx) as progress:
        report = butler.ingest_raws(files, instrument=instrument, translator=translator, run=run, transfer=transfer,
                                    progress=progress)  # fmt: skip
    rows: list[dict[str, Any]] = [
        *({"status": "ingested", "id": r.id, "run": r.run, **r.data_id.required, "reason": None}
          for r in report.ingested),
        *({"status": "skipped", "id": r.id, "run": r.run, **r.data_id.required, "reason": None}
          for r in report.skipped),
        *({"status": "failed", "path": p, "reason": why} for p, why in report.failures.items()),
    ]  # fmt: skip
    if fmt != "table":
        emit(rows, fmt)
    else:
        click.echo(f"{len(files)} file(s): {report}.")
        for path, why in report.failures.items():
            click.echo(f"failed: {path}: {why}", err=True)
    for note in report.notes:  # after registration: the datasets are in, something around them is not
        click.echo(f"note: {note}", err=True)
    if report.failures or report.notes:
        ctx.exit(1)
