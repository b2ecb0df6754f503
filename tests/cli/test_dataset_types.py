"""Dataset type commands: register, query, remove (with --dry-run and confirmation)."""

from __future__ import annotations

import json

from tests.cli.conftest import Run, run_process

from skybutler.butler import Butler


def test_register_query_remove(run: Run, sample_repo: str) -> None:
    result = run("register-dataset-type", sample_repo, "calexp", "NumpyArray", "instrument", "visit", "detector")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Registered calexp(instrument, detector, visit)")
    again = run("register-dataset-type", sample_repo, "calexp", "NumpyArray", "instrument", "visit", "detector")
    assert again.stdout.startswith("Already registered:")
    listed = json.loads(run("query-dataset-types", sample_repo, "-f", "json").stdout)
    assert [d["name"] for d in listed] == ["bias", "calexp", "image", "meta"]
    assert listed[0] == {"name": "bias", "dimensions": "instrument detector", "storage_class": "NumpyArray",
                         "is_calibration": True}  # fmt: skip
    globbed = json.loads(run("query-dataset-types", sample_repo, "ca*", "im*", "-f", "json").stdout)
    assert [d["name"] for d in globbed] == ["calexp", "image"]

    dry = run("remove-dataset-type", sample_repo, "calex*", "--dry-run")
    assert dry.exit_code == 0
    assert dry.stdout == "Would remove these dataset types:\n  dataset type calexp\nDry run: nothing was changed.\n"
    no = run("remove-dataset-type", sample_repo, "calexp", input="n\n")
    assert no.exit_code == 1
    with Butler(sample_repo) as butler:
        assert [d.name for d in butler.query_dataset_types("calexp")] == ["calexp"]
    assert run("remove-dataset-type", sample_repo, "calexp", input="y\n").exit_code == 0
    with Butler(sample_repo) as butler:
        assert butler.query_dataset_types("calexp") == []


def test_a_type_with_datasets_is_not_removed(run: Run, sample_repo: str) -> None:
    result = run("remove-dataset-type", sample_repo, "meta", "--yes")
    assert result.exit_code == 4
    assert "error [conflict]: Dataset type 'meta' still has 8 dataset(s)" in result.stderr
    unknown = run("remove-dataset-type", sample_repo, "nope", "--yes")
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("error [dataset-type]: Dataset type 'nope' is not registered")


def test_bad_registrations(run: Run, sample_repo: str) -> None:
    result = run("register-dataset-type", sample_repo, "x", "NoSuchClass", "visit")
    assert result.exit_code == 2
    assert "Unknown storage class 'NoSuchClass'" in result.stderr
    result = run("register-dataset-type", sample_repo, "meta", "NumpyArray", "instrument", "visit", "detector")
    assert result.exit_code == 2
    assert "already registered" in result.stderr


def test_dataset_type_commands_as_processes(sample_repo: str) -> None:
    done = run_process("register-dataset-type", sample_repo, "flat", "NumpyArray", "instrument", "detector",
                       "--is-calibration")  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = json.loads(run_process("query-dataset-types", sample_repo, "flat", "-f", "json").stdout)
    assert listed == [{"name": "flat", "dimensions": "instrument detector", "storage_class": "NumpyArray",
                       "is_calibration": True}]  # fmt: skip
    assert run_process("remove-dataset-type", sample_repo, "flat").returncode == 1  # no terminal, no --yes
    assert run_process("remove-dataset-type", sample_repo, "flat", "-y").returncode == 0
