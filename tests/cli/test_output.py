"""Output formats and the progress-bar adapter."""

from __future__ import annotations

import csv
import io
import json
import uuid

import click
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from skybutler.cli._output import PIPED_WIDTH, emit, iso_utc, piped_table, plain
from skybutler.cli._progress import RichProgress, progress_bar
from skybutler.dimensions import to_tai_ns

ROWS = [{"name": "a", "n": 1, "id": uuid.UUID(int=1), "none": None}, {"name": "b", "n": 2, "extra": True}]


def _emit(fmt: str, rows: list[dict[str, object]] = ROWS) -> str:
    @click.command()
    def show() -> None:
        emit(rows, fmt, title="T", empty="Nothing.")

    result = CliRunner().invoke(show, [])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_json_yaml_and_csv_hold_the_same_rows() -> None:
    expected = [
        {"name": "a", "n": 1, "id": "00000000-0000-0000-0000-000000000001", "none": None},
        {"name": "b", "n": 2, "extra": True},
    ]
    assert json.loads(_emit("json")) == expected
    assert yaml.safe_load(_emit("yaml")) == expected
    rows = list(csv.DictReader(io.StringIO(_emit("csv"))))
    assert [r["name"] for r in rows] == ["a", "b"]
    assert list(rows[0]) == ["name", "n", "id", "none", "extra"]  # the union of the columns, in order
    assert rows[1]["id"] == ""


def test_table_shows_every_value_and_says_when_empty() -> None:
    out = _emit("table")
    for text in ("T", "name", "extra", "00000000-0000-0000-0000-000000000001", "True"):
        assert text in out
    assert _emit("table", []) == "Nothing.\n"
    assert json.loads(_emit("json", [])) == []
    assert _emit("csv", []) == ""


def test_a_piped_table_never_wraps_a_row() -> None:
    # off a terminal every row is one line, however wide: `... | grep <uuid>` must find the whole row
    run = "u/someone/processing/2025-01-01/step1/" + "a-long-descriptive-name-" * 4
    rows: list[dict[str, object]] = [{"run": run, "id": uuid.UUID(int=7), "uri": f"s3://bucket/{run}/" + "x" * 80}]
    lines = _emit("table", rows).splitlines()
    body = [line for line in lines if "0000-0000" in line]
    assert len(body) == 1
    assert run in body[0]
    assert str(rows[0]["uri"]) in body[0]
    assert len(lines) == 6  # title, top rule, header, header rule, the row, bottom rule
    assert max(len(line) for line in lines) == len(body[0])  # and nothing is padded wider than the table


def _rich_piped(columns: list[str], cells: list[list[str]], title: str | None) -> str:
    """What rich prints for the table off a terminal (emit's rich path: same table options, unbounded width)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = io.StringIO()
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(Text(column), overflow="fold")
    for row in cells:
        table.add_row(*(Text(cell) for cell in row))
    Console(width=PIPED_WIDTH, soft_wrap=False, file=out).print(table)
    return out.getvalue()


_ascii = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda n: st.tuples(
            st.lists(_ascii.filter(bool), min_size=n, max_size=n),
            st.lists(st.lists(_ascii, min_size=n, max_size=n), min_size=1, max_size=5),
            st.none() | _ascii,
        )
    )
)
def test_a_piped_table_is_drawn_as_rich_draws_it(table: tuple[list[str], list[list[str]], str | None]) -> None:
    # the direct drawing (2000 rows in milliseconds, not 0.5 s) must print what rich prints, or decline
    columns, cells, title = table
    drawn = piped_table(columns, cells, title)
    if drawn is None:  # declined: spaces at either end of a text, or a title wider than the table
        assert any(t != t.strip() for t in [*columns, *(v for row in cells for v in row), title or ""]) or (
            title is not None and len(title) > len(_rich_piped(columns, cells, None).splitlines()[0])
        )
    else:
        assert drawn == _rich_piped(columns, cells, title)


def test_a_piped_table_leaves_other_text_to_rich() -> None:
    assert piped_table(["run"], [["u/me/[bold]"]], "meta") == _rich_piped(["run"], [["u/me/[bold]"]], "meta")
    assert piped_table(["run"], [["caf\u00e9"]]) is None  # not ASCII: rich measures terminal cells
    assert piped_table(["run"], [["a\tb"]]) is None
    assert piped_table(["run"], [["run1"]], "a title wider than the table") is None
    wide = [{"name": "\u4e2d\u6587", "n": 1}]  # two cells per character: emit draws it with rich
    assert _emit("table", wide) == _rich_piped(["name", "n"], [["\u4e2d\u6587", "1"]], "T")


def test_plain_values() -> None:
    assert plain(b"\x01\xff") == "01ff"
    assert plain(3.5) == 3.5
    assert plain(object).startswith("<class")
    assert iso_utc(to_tai_ns("2025-01-01T12:00:00")) == "2025-01-01T12:00:00"
    assert iso_utc(to_tai_ns("2025-01-01T12:00:00.25")) == "2025-01-01T12:00:00.25"
    assert iso_utc(None) is None


def test_progress_bar_draws_one_bar_per_phase(capsys: pytest.CaptureFixture[str]) -> None:
    @click.command()
    @click.pass_context
    def work(ctx: click.Context) -> None:
        with progress_bar(ctx, force=True) as progress:
            assert isinstance(progress, RichProgress)
            for i in range(4):
                progress("copy", i + 1, 4)
            progress("register", 1, None)

    result = CliRunner().invoke(work, [])
    assert result.exit_code == 0, result.output
    assert "copy" in result.stderr
    assert "4/4" in result.stderr
    assert "register" in result.stderr


def test_progress_is_off_without_a_terminal_or_when_asked() -> None:
    seen = []

    @click.command()
    @click.pass_context
    def work(ctx: click.Context) -> None:
        with progress_bar(ctx) as progress:
            seen.append(progress)

    assert CliRunner().invoke(work, []).exit_code == 0
    assert seen == [None]  # the runner's stderr is not a terminal
