"""Error advice at the command line names commands and options, not Python calls (issue 19 item 5)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from tests.cli.conftest import Run

from skybutler.cli._advice import for_the_command_line


def test_a_duplicate_record_suggests_the_option_of_the_command(run: Run, any_repo: str, tmp_path: Path) -> None:
    # it said "Use sync_dimension_records() to insert-or-verify, or skip_existing=True."
    (tmp_path / "bands.csv").write_text("name\nr\n")
    result = run("insert-dimension-records", any_repo, "band", str(tmp_path / "bands.csv"))
    assert result.exit_code == 1
    assert result.stderr.startswith("error [conflict]: Cannot insert 'band' records")
    assert result.stderr.endswith(" Pass --skip-existing.\n")


def test_an_unregistered_dataset_type_names_the_command_that_registers_it(
    run: Run, any_repo: str, tmp_path: Path
) -> None:
    # it said "Register it with register_dataset_type()."
    np.save(tmp_path / "f.npy", np.ones(3))
    (tmp_path / "t.csv").write_text("path,detector\nf.npy,0\n")
    args = [str(tmp_path / "t.csv"), "--dataset-type", "nope", "--run", "x", "-d", "instrument=Cam"]
    result = run("ingest-files", any_repo, *args)
    assert result.exit_code == 1
    assert result.stderr == (
        "error [dataset-type]: Dataset type 'nope' is not registered. "
        "Register it with `skybutler register-dataset-type`.\n"
    )


def test_a_keyword_becomes_the_running_commands_option_and_only_then() -> None:
    @click.command()
    @click.option("--replace", "-r", is_flag=True)
    def certify(replace: bool) -> None:
        pass

    message = "It overlaps; pass replace=True to supersede it, or skip_existing=True."
    assert (
        for_the_command_line(message, certify) == "It overlaps; pass --replace to supersede it, or skip_existing=True."
    )
    assert for_the_command_line(message, None) == message
    chained = "Run 'a' is a child of ['c']; remove it from those chains first (nothing was removed)."
    assert for_the_command_line(chained, None) == (
        "Run 'a' is a child of ['c']; remove it from those chains first with "
        "`skybutler collection-chain REPO CHAIN NAME --mode remove` (nothing was removed)."
    )
