"""``insert-dimension-records``: dimension records from a YAML or CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from skybutler.cli._options import open_butler, read_text, repo_argument, yaml_rows

__all__ = ["insert_dimension_records", "read_records"]


def read_records(path: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """Records from a file: YAML (a list of mappings) or CSV (a header row; empty cells are null).

    A timespan is two columns, ``timespan_begin`` and ``timespan_end`` (ISO times; empty or null: unbounded),
    as ``query-dimension-records`` prints it in every format, so its CSV, JSON and YAML all read back; YAML
    may give ``timespan: [begin, end]`` instead.  Integer fields may be written as digits, since records are
    typed by their element's fields on insert.

    Raises
    ------
    ConfigError
        The file is neither, or does not hold a list of records.
    """

    text = read_text(path)
    kind = kind or ("csv" if path.suffix.lower() == ".csv" else "yaml")
    if kind == "csv":
        import csv
        import io

        rows: list[dict[str, Any]] = []
        for raw in csv.DictReader(io.StringIO(text)):
            rows.append(_timespan({k: (None if v == "" else v) for k, v in raw.items() if k is not None}))
        return rows
    return [_timespan(row) for row in yaml_rows(text, path, "records", "records (mappings of field: value)")]


def _timespan(row: dict[str, Any]) -> dict[str, Any]:
    """The two columns ``timespan_begin`` and ``timespan_end`` as the record's ``timespan`` (both empty: None)."""
    if "timespan" not in row and ("timespan_begin" in row or "timespan_end" in row):
        span = (row.pop("timespan_begin", None), row.pop("timespan_end", None))
        row["timespan"] = None if span == (None, None) else span
    return row


@click.command()
@repo_argument
@click.argument("element")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--file-format", type=click.Choice(["yaml", "csv"]), help="Format of FILE (default: by its suffix).")
@click.option("--skip-existing", is_flag=True, help="Leave records that exist already (identical or not).")
@click.pass_context
def insert_dimension_records(
    ctx: click.Context, repo: str, element: str, file: Path, file_format: str | None, skip_existing: bool
) -> None:
    """Insert dimension records from YAML or CSV.

    Insert records of dimension ELEMENT from FILE (YAML list of mappings, or CSV with a header; '-': stdin).

    All records go in one transaction: if one is refused, none is inserted.
    """
    records = read_records(file, file_format)
    if not records:  # an empty file reported "Inserted 0 ... record(s)" as a success
        from skybutler.errors import ConfigError

        raise ConfigError(f"{file} holds no records; nothing was inserted.")
    butler = open_butler(ctx, repo, writeable=True)
    inserted = butler.insert_dimension_records(element, records, skip_existing=skip_existing)
    skipped = len(records) - inserted
    click.echo(f"Inserted {inserted} {element} record(s)" + (f"; {skipped} existed already." if skipped else "."))
