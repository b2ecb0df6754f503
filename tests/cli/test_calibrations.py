"""Calibration commands: certify, decertify (dry run, confirmation) and the history."""

from __future__ import annotations

import json
from typing import Any

from tests.cli.conftest import Run, run_process

from skybutler.butler import Butler


def _history(run: Run, repo: str, *args: str) -> list[dict[str, Any]]:
    result = run("calibration-history", repo, "calib", "bias", *args, "-f", "json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_certify_then_look_up_by_time(run: Run, any_repo: str) -> None:
    result = run("certify-calibrations", any_repo, "calib/run1", "calib", "bias",
                 "--begin", "2025-01-01", "--end", "2025-02-01")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Created CALIBRATION collection calib.\n"
        "Certified 2 bias dataset(s) into calib, valid [2025-01-01, 2025-02-01).\n"
    )
    rows = _history(run, any_repo)
    assert [(r["detector"], r["valid_begin"], r["valid_end"], r["recorded_end"]) for r in rows] == [
        (0, "2025-01-01T00:00:00", "2025-02-01T00:00:00", "current"),
        (1, "2025-01-01T00:00:00", "2025-02-01T00:00:00", "current"),
    ]
    with Butler(any_repo, collections="calib") as butler:
        ref = butler.find_dataset("bias", instrument="Cam", detector=1, at="2025-01-15")
        assert ref is not None
        assert str(ref.id) == rows[1]["dataset_id"]
    overlap = run("certify-calibrations", any_repo, "calib/run1", "calib", "bias", "--begin", "2025-01-20")
    assert overlap.exit_code == 1
    assert overlap.stderr.startswith("error [conflict]:")
    assert len(_history(run, any_repo)) == 2  # the refusal changed nothing


def test_decertify_dry_run_then_for_real(run: Run, sample_repo: str) -> None:
    run("certify-calibrations", sample_repo, "calib/run1", "calib", "bias", "--begin", "2025-01-01")
    dry = run("decertify", sample_repo, "calib", "bias", "--begin", "2025-01-10", "--end", "2025-01-12",
              "-d", "instrument=Cam,detector=1", "--dry-run")  # fmt: skip
    assert dry.exit_code == 0, dry.output
    lines = dry.stdout.splitlines()
    assert lines[0] == "Would decertify 1 certification(s):"
    assert lines[1].endswith("valid [2025-01-01T00:00:00, +inf) UTC")
    assert lines[-1] == "Dry run: nothing was changed."
    assert [r["recorded_end"] for r in _history(run, sample_repo)] == ["current", "current"]
    done = run("decertify", sample_repo, "calib", "bias", "--begin", "2025-01-10", "--end", "2025-01-12",
               "-d", "instrument=Cam,detector=1", "--yes")  # fmt: skip
    assert done.stdout.endswith("Closed 1 certification row(s) in calib.\n")
    current = _history(run, sample_repo, "-d", "instrument=Cam,detector=1", "--current")
    assert [(r["valid_begin"], r["valid_end"]) for r in current] == [
        ("2025-01-01T00:00:00", "2025-01-10T00:00:00"),
        ("2025-01-12T00:00:00", "+inf"),
    ]
    everything = _history(run, sample_repo, "-d", "instrument=Cam,detector=1")
    assert len(everything) == 3  # the withdrawn row is kept, closed


def test_certify_nothing_and_bad_times(run: Run, sample_repo: str) -> None:
    none = run("certify-calibrations", sample_repo, "calib/run1", "calib", "bias", "-d", "instrument=Cam,detector=7")
    assert none.stdout == "No bias datasets in calib/run1 match; nothing certified.\n"
    backwards = run("certify-calibrations", sample_repo, "calib/run1", "calib", "bias",
                    "--begin", "2025-02-01", "--end", "2025-01-01")  # fmt: skip
    assert backwards.exit_code == 1
    assert "swap them" in backwards.stderr
    not_calib = run("calibration-history", sample_repo, "run1", "bias")
    assert not_calib.exit_code == 1
    assert "not CALIBRATION" in not_calib.stderr


def test_calibration_commands_as_processes(sample_repo: str) -> None:
    done = run_process("certify-calibrations", sample_repo, "calib/run1", "calib", "bias", "--end", "2030-01-01")
    assert done.returncode == 0, done.stderr
    rows = json.loads(run_process("calibration-history", sample_repo, "calib", "bias", "-f", "json").stdout)
    assert [(r["valid_begin"], r["valid_end"]) for r in rows] == [("-inf", "2030-01-01T00:00:00")] * 2
    assert run_process("decertify", sample_repo, "calib", "bias").returncode == 1  # no --yes, no terminal


def test_a_refused_certify_does_not_leave_a_new_collection(run: Run, sample_repo: str) -> None:
    # the CALIBRATION collection is created for the certification; when that is refused it must not stay
    not_calib = run("certify-calibrations", sample_repo, "run1", "calib", "meta")
    assert not_calib.exit_code == 1
    assert "'meta' is not a calibration dataset type" in not_calib.stderr
    empty = run("certify-calibrations", sample_repo, "calib/run1", "calib", "bias",
                "--begin", "2025-01-01", "--end", "2025-01-01")  # fmt: skip
    assert empty.exit_code == 1
    assert "is empty" in empty.stderr
    assert "Created" not in not_calib.stdout + empty.stdout
    names = json.loads(run("query-collections", sample_repo, "-f", "json").stdout)
    assert [n["name"] for n in names] == ["calib/run1", "run1"]
