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
                         "is_calibration": True, "format": None}  # fmt: skip
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
    assert result.exit_code == 1
    assert "error [conflict]: Dataset type 'meta' still has 8 dataset(s)" in result.stderr
    unknown = run("remove-dataset-type", sample_repo, "nope", "--yes")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error [dataset-type]: Dataset type 'nope' is not registered")


def test_removing_several_types_is_all_or_nothing(run: Run, sample_repo: str) -> None:
    # 'calexp' has no datasets, 'image' has: nothing is removed, and the dry run already says why
    run("register-dataset-type", sample_repo, "calexp", "NumpyArray", "instrument", "visit", "detector")
    for extra in ("--dry-run", "--yes"):
        result = run("remove-dataset-type", sample_repo, "calexp", "image", extra)
        assert result.exit_code == 1, extra
        assert result.stderr.startswith("error [conflict]: Dataset type 'image' still has 4 dataset(s)"), extra
        with Butler(sample_repo) as butler:
            assert [d.name for d in butler.query_dataset_types(["calexp", "image"])] == ["calexp", "image"]


def test_bad_registrations(run: Run, sample_repo: str) -> None:
    result = run("register-dataset-type", sample_repo, "x", "NoSuchClass", "visit")
    assert result.exit_code == 1
    assert "Unknown storage class 'NoSuchClass'" in result.stderr
    result = run("register-dataset-type", sample_repo, "meta", "NumpyArray", "instrument", "visit", "detector")
    assert result.exit_code == 1
    assert "already registered" in result.stderr


def test_register_with_a_format_then_query_shows_it(run: Run, sample_repo: str) -> None:
    args = ("register-dataset-type", sample_repo, "src", "AstropyTable", "instrument", "visit", "detector")
    result = run(*args, "--format", "hdf5")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Registered src(instrument, detector, visit) as AstropyTable in hdf5.\n"
    assert run(*args).stdout.startswith("Already registered: src(instrument, detector, visit) as AstropyTable in hdf5")
    listed = json.loads(run("query-dataset-types", sample_repo, "src", "meta", "-f", "json").stdout)
    assert [(d["name"], d["format"]) for d in listed] == [("meta", None), ("src", "hdf5")]
    table = run("query-dataset-types", sample_repo, "src").stdout
    assert "format" in table.splitlines()[2]  # title, top rule, header
    assert "hdf5" in table
    assert "format" not in run("query-dataset-types", sample_repo, "meta").stdout  # an empty column is left out
    refused = run(*args, "--file-format", "fits")
    assert refused.exit_code == 1
    assert "error [dataset-type]: Dataset type 'src' is already registered as" in refused.stderr
    unknown = run("register-dataset-type", sample_repo, "cat", "AstropyTable", "instrument", "--format", "hdf6")
    assert unknown.exit_code == 1
    assert "Unknown format 'hdf6' for dataset type 'cat'; formats that write AstropyTable: fits, hdf5" in unknown.stderr
    with Butler(sample_repo) as butler:
        assert butler.query_dataset_types("cat") == []
        assert butler.get_dataset_type("src").format == "hdf5"


def test_dataset_type_commands_as_processes(sample_repo: str) -> None:
    done = run_process("register-dataset-type", sample_repo, "flat", "NumpyArray", "instrument", "detector",
                       "--is-calibration")  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = json.loads(run_process("query-dataset-types", sample_repo, "flat", "-f", "json").stdout)
    assert listed == [{"name": "flat", "dimensions": "instrument detector", "storage_class": "NumpyArray",
                       "is_calibration": True, "format": None}]  # fmt: skip
    assert run_process("remove-dataset-type", sample_repo, "flat").returncode == 1  # no terminal, no --yes
    assert run_process("remove-dataset-type", sample_repo, "flat", "-y").returncode == 0
