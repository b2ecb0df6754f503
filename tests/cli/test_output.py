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

from skybutler.cli._output import emit, iso_utc, plain
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
