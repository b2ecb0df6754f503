"""Printing results: a rich table for people, JSON, CSV or YAML for scripts (``--format``).

Rows are flat mappings of plain values (str, int, float, bool, None); `plain` turns UUIDs, timespans and the
like into text first, so all four formats show the same thing.  rich is imported only to draw a table.
"""

from __future__ import annotations

import datetime
import os
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

__all__ = ["FORMATS", "emit", "format_option", "iso_utc", "plain"]

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("table", "json", "csv", "yaml")

format_option = click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format: a table for people; json, csv or yaml for scripts.",
)


def plain(value: Any) -> Any:
    """A value every format can print: numbers, text, booleans and None stay; the rest becomes text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def iso_utc(tai_ns: int | None) -> str | None:
    """A TAI nanosecond time as ISO UTC, as users type times, without zero fraction digits (None stays None)."""
    from skybutler.dimensions import tai_ns_to_iso

    return None if tai_ns is None else tai_ns_to_iso(tai_ns, "utc").rstrip("0").removesuffix(".")


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def emit(
    rows: Sequence[Mapping[str, Any]],
    fmt: str,
    *,
    title: str | None = None,
    empty: str = "No results.",
    columns: Sequence[str] | None = None,
) -> None:
    """Print ``rows`` in ``fmt``; an empty table prints ``empty`` (JSON/YAML print an empty list, CSV nothing).

    The script formats keep every column; a table drops those empty in every row, unless ``columns`` names them.
    """
    data = [{k: plain(v) for k, v in row.items()} for row in rows]
    cols = list(columns) if columns is not None else _columns(data)
    if fmt == "json":
        import json

        click.echo(json.dumps(data, indent=2))
    elif fmt == "yaml":
        import yaml

        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)
    elif fmt == "csv":
        import csv
        import io

        if data:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=cols, lineterminator="\n")
            writer.writeheader()
            writer.writerows(data)
            click.echo(buffer.getvalue(), nl=False)
    elif not data:
        click.echo(empty)
    else:
        if columns is None:  # a table for people leaves out columns with no value at all (unset metadata fields)
            cols = [c for c in cols if any(row.get(c) is not None for row in data)]
        cells = [["" if row.get(c) is None else str(row.get(c)) for c in cols] for row in data]
        text = (
            None
            if sys.stdout.isatty() or _RICH_STYLES_PIPES.intersection(os.environ)
            else piped_table(cols, cells, title)
        )
        if text is not None:
            click.echo(text, nl=False)
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, title_justify="left", header_style="bold")
        for col in cols:
            table.add_column(Text(col), overflow="fold")
        for row_cells in cells:
            # Text, not str: a name like "u/me/[bold]" must print as typed, not be read as rich markup
            table.add_row(*(Text(cell) for cell in row_cells))
        console().print(table)


#: Environment variables with which rich styles (colours, bold) its output even off a terminal.
_RICH_STYLES_PIPES = frozenset({"FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"})


def _plain_text(text: str) -> bool:
    # one terminal cell per character, no line breaks or tabs, no space at either end (rich folds those)
    return text.isascii() and text.isprintable() and text == text.strip()


def piped_table(columns: Sequence[str], cells: Sequence[Sequence[str]], title: str | None = None) -> str | None:
    """The table rich prints off a terminal (its ``HEAVY_HEAD`` box, unbounded width), drawn directly; or None.

    Drawing 2000 rows through rich costs about 0.5 s of CPU, more than the rest of a ``query-datasets``
    process (issue 26 part 6); off a terminal rich adds no style, so the same characters are written here
    in a few milliseconds.  None (draw it with rich) when a text is not plain printable ASCII, or the title
    is wider than the table (rich measures and wraps those).  tests/cli/test_output.py checks that both give
    the same text.
    """
    if not all(_plain_text(c) for c in columns) or not all(_plain_text(v) for row in cells for v in row):
        return None
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    total = sum(widths) + 3 * len(widths) + 1
    if title and (len(title) > total or not _plain_text(title)):
        return None

    def rule(left: str, line: str, cross: str, right: str) -> str:
        return left + cross.join(line * (w + 2) for w in widths) + right

    def row(edge: str, values: Sequence[str]) -> str:
        return f"{edge} " + f" {edge} ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + f" {edge}"

    lines = [title.ljust(total)] if title else []  # rich shows no empty title
    lines += [rule("┏", "━", "┳", "┓"), row("┃", columns), rule("┡", "━", "╇", "┩")]
    lines += [row("│", values) for values in cells]
    lines.append(rule("└", "─", "┴", "┘"))
    return "\n".join(lines) + "\n"


#: Console width off a terminal: wider than any row, so a piped table keeps each row on one line (a fixed 200
#: folded long run names and URIs onto a second line, splitting what ``grep`` or ``cut`` look for).  rich
#: sizes a table to its content, not to the console, so nothing is padded to this width.
PIPED_WIDTH = 1_000_000


def console() -> Any:
    """A rich console on stdout: the terminal's width, or an unbounded one when piped (no wrapped rows)."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich exits 1 here; a closed pipe (`| head`) is handled by the CLI alike for every format (exit 0)
            self.quiet = True
            raise BrokenPipeError

    # sys.stdout as it is now (click's test runner swaps it), not the one at import
    return _Console(width=None if sys.stdout.isatty() else PIPED_WIDTH, soft_wrap=False, file=sys.stdout)
