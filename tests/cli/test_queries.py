"""Query commands: datasets, data IDs, dimension records and the completeness matrix."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.cli.conftest import Run, run_process

from skybutler.butler import Butler


def _json(run: Run, *args: str) -> Any:
    result = run(*args, "-f", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_query_datasets_everywhere_by_default(run: Run, any_repo: str) -> None:
    rows = _json(run, "query-datasets", any_repo)
    assert len(rows) == 14
    assert {r["dataset_type"] for r in rows} == {"meta", "image", "bias"}
    meta = [r for r in rows if r["dataset_type"] == "meta"]
    assert set(meta[0]) == {"dataset_type", "run", "id", "instrument", "visit", "detector"}
    assert {r["run"] for r in rows} == {"run1", "calib/run1"}


def test_query_datasets_constraints(run: Run, sample_repo: str) -> None:
    rows = _json(run, "query-datasets", sample_repo, "meta", "-c", "run1", "--where", "visit > 1",
                 "-d", "detector=1", "--order-by", "-visit")  # fmt: skip
    assert [(r["visit"], r["detector"]) for r in rows] == [(3, 1), (2, 1)]
    limited = _json(run, "query-datasets", sample_repo, "m*", "-c", "run*", "--limit", "3")
    assert len(limited) == 3
    with_uri = _json(run, "query-datasets", sample_repo, "image", "-c", "run1", "--show-uri", "--limit", "1")
    assert with_uri[0]["uri"].startswith("file://")
    assert with_uri[0]["uri"].endswith(".npy")


def test_find_first_along_a_chain(run: Run, sample_repo: str) -> None:
    run("associate", sample_repo, "best", "meta", "-c", "run1", "--where", "visit = 0")
    run("collection-chain", sample_repo, "both", "best", "run1")
    first = _json(run, "query-datasets", sample_repo, "meta", "-c", "both", "--where", "visit = 0")
    assert len(first) == 2
    every = _json(run, "query-datasets", sample_repo, "meta", "-c", "best,run1", "--find-all", "--where", "visit = 0")
    assert len(every) == 2  # the same two datasets, reached through both collections, listed once each
    assert {r["id"] for r in every} == {r["id"] for r in first}


def test_query_datasets_table_and_empty_result(run: Run, sample_repo: str) -> None:
    table = run("query-datasets", sample_repo, "meta", "image", "-c", "run1", "--where", "visit = 0").stdout
    assert table.splitlines()[0].strip() == "meta"
    assert "image" in table
    empty = run("query-datasets", sample_repo, "meta", "-c", "run1", "-d", "instrument=Cam,visit=99")
    assert empty.exit_code == 0
    assert empty.stdout == "No datasets found.\n  No visit record has the value 99 for {'instrument': 'Cam'}.\n"
    as_json = run("query-datasets", sample_repo, "meta", "-c", "run1", "--where", "visit = 99", "-f", "json")
    assert json.loads(as_json.stdout) == []


def test_query_data_ids(run: Run, sample_repo: str) -> None:
    ids = _json(run, "query-data-ids", sample_repo, "visit", "--where", "band = 'r'")
    assert [d["visit"] for d in ids] == [1, 3]
    assert ids[0] == {"instrument": "Cam", "visit": 1, "band": "r", "physical_filter": "Cam-r", "day_obs": 20250101}
    with_images = _json(run, "query-data-ids", sample_repo, "visit", "detector", "--datasets", "image", "-c", "run1")
    assert sorted((d["visit"], d["detector"]) for d in with_images) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    as_csv = list(csv.DictReader(io.StringIO(run("query-data-ids", sample_repo, "detector", "-f", "csv").stdout)))
    assert [r["detector"] for r in as_csv] == ["0", "1"]
    as_yaml = yaml.safe_load(run("query-data-ids", sample_repo, "detector", "-f", "yaml").stdout)
    assert [r["detector"] for r in as_yaml] == [0, 1]


def test_query_data_ids_with_datasets_searches_every_run_by_default(run: Run, sample_repo: str) -> None:
    # as query-datasets and missing do; it failed telling a shell user to "pass collections= ... to Butler()"
    ids = _json(run, "query-data-ids", sample_repo, "visit", "detector", "--datasets", "image")
    assert sorted((d["visit"], d["detector"]) for d in ids) == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_query_dimension_records(run: Run, sample_repo: str) -> None:
    visits = _json(run, "query-dimension-records", sample_repo, "visit", "--where", "visit < 2")
    assert [v["name"] for v in visits] == ["v0", "v1"]
    assert visits[0]["timespan_begin"] == "2025-01-01T12:00:00"
    assert visits[0]["timespan_end"] == "2025-01-01T12:00:30"
    detectors = _json(run, "query-dimension-records", sample_repo, "detector", "--order-by", "-detector",
                      "--limit", "1")  # fmt: skip
    assert detectors == [{"instrument": "Cam", "id": 1, "full_name": "S01", "name_in_raft": None, "raft": None,
                          "purpose": None}]  # fmt: skip
    unknown = run("query-dimension-records", sample_repo, "nope")
    assert unknown.exit_code != 0
    assert unknown.stderr.startswith("error [")


def test_missing_matrix(run: Run, any_repo: str) -> None:
    rows = _json(run, "missing", any_repo, "meta", "image", "-c", "run1")
    assert len(rows) == 8
    assert rows[0] == {"instrument": "Cam", "detector": 0, "visit": 0, "meta": 1, "image": 1}
    gaps = _json(run, "missing", any_repo, "meta", "image", "-c", "run1", "--only-missing")
    assert sorted((r["visit"], r["detector"]) for r in gaps) == [(2, 0), (2, 1), (3, 0), (3, 1)]
    assert all(r["meta"] == 1 and r["image"] == 0 for r in gaps)
    table = run("missing", any_repo, "meta", "image", "-c", "run1", "--where", "visit >= 1").stdout
    assert "MISSING" in table
    assert table.endswith("4 of 6 data ID(s) lack at least one dataset type.\n")
    calibs = _json(run, "missing", any_repo, "meta", "bias", "-D", "visit,detector", "-c", "run1,calib/run1",
                   "--where", "visit = 0")  # fmt: skip
    assert [(r["detector"], r["meta"], r["bias"]) for r in calibs] == [(0, 1, 1), (1, 1, 1)]
    globbed = _json(run, "missing", any_repo, "m*", "i*", "-c", "run1", "--only-missing")
    assert globbed == gaps
    outside = run("missing", any_repo, "meta", "-D", "detector")
    assert outside.exit_code == 1
    assert "outside" in outside.stderr


def test_no_dimensions_is_a_data_id_error_on_both_registries(run: Run, any_repo: str) -> None:
    # no dimension left (an empty name, a glob matching no type) built SQL with nothing to select: an internal
    # error on SQLite, a "storage" syntax error on PostgreSQL
    for args in (("query-data-ids", any_repo, ""), ("query-data-ids", any_repo, ",")):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("error [data-id]: No dimensions given"), args
    globbed = run("missing", any_repo, "zz*")
    assert globbed.exit_code == 1, globbed.output
    assert globbed.stderr.startswith("error [dataset-type]: No dataset type matches 'zz*'")


def test_order_by_a_field_with_nulls_is_the_same_on_both_registries(run: Run, any_repo: str) -> None:
    # SQLite sorted NULLs first and PostgreSQL last, and PostgreSQL left the NULL rows in any order; now rows
    # without a value come last in either direction, and ties follow the data ID
    with Butler(any_repo, writeable=True) as butler:
        butler.insert_dimension_records("visit", [
            {"instrument": "Cam", "id": v, "name": f"v{v}", "physical_filter": "Cam-r", "day_obs": 20250101,
             "seq_num": n} for v, n in ((10, 5), (11, 7))])  # fmt: skip
    for order, expected in (("visit.seq_num", [10, 11, 0, 1, 2, 3]), ("-visit.seq_num", [11, 10, 0, 1, 2, 3])):
        ids = _json(run, "query-data-ids", any_repo, "visit", "--order-by", order)
        assert [d["visit"] for d in ids] == expected, order
        records = _json(run, "query-dimension-records", any_repo, "visit", "--order-by", order)
        assert [r["id"] for r in records] == expected, order
        refs = _json(run, "query-datasets", any_repo, "meta", "-c", "run1", "-d", "detector=0", "--order-by", order)
        assert [r["visit"] for r in refs] == [0, 1, 2, 3], order


def test_query_commands_as_processes(sample_repo: str) -> None:
    done = run_process("query-datasets", sample_repo, "meta", "-c", "run1", "-f", "json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 8
    table = run_process("query-datasets", sample_repo, "meta", "-c", "run1", "--where", "visit = 0").stdout
    assert "┃ run " in table
    bad = run_process("query-datasets", sample_repo, "meta", "-c", "run1", "--where", "visit = = 1")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error [query-syntax]:")
    assert "Traceback" not in bad.stderr


def test_calibration_collections_are_searched_at_a_time(run: Run, sample_repo: str) -> None:
    run("certify-calibrations", sample_repo, "calib/run1", "calib", "bias", "--begin", "2025-01-01")
    # with no time, each data ID certified once answers its one dataset (the reference's answer, issue 21)
    untimed = _json(run, "query-datasets", sample_repo, "bias", "-c", "calib")
    assert [(r["detector"], r["run"]) for r in untimed] == [(0, "calib/run1"), (1, "calib/run1")]
    found = _json(run, "query-datasets", sample_repo, "bias", "-c", "calib", "--at", "2025-03-01")
    assert [(r["detector"], r["run"]) for r in found] == [(0, "calib/run1"), (1, "calib/run1")]
    assert _json(run, "query-datasets", sample_repo, "bias", "-c", "calib", "--at", "2024-12-31") == []
    # meta is not a calibration type: --at would not find it there, so it is not suggested
    not_calibration = run("query-datasets", sample_repo, "meta", "-c", "calib")
    assert not_calibration.stdout.startswith("No datasets found.")
    assert "--at" not in not_calibration.stdout


def test_a_repeated_command_line_query_does_not_import_lark(tmp_path: Path, sample_repo: str) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("SKYBUTLER_NO_CACHE", None)
    code = (
        "import sys\nfrom skybutler.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('lark' in sys.modules, file=sys.stderr)"
    )
    outputs = []
    for visit, lark_expected in [(1, "False"), (2, "False"), (3, "False")]:  # tables built ahead (issue 26)
        done = subprocess.run(
            [sys.executable, "-c", code, "query-datasets", sample_repo, "meta", "-c", "run1", "-f", "json",
             "--where", f"visit = {visit} AND detector = 1"],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
        assert done.stderr.strip() == lark_expected
        outputs.append(json.loads(done.stdout))
    assert [[(r["visit"], r["detector"]) for r in rows] for rows in outputs] == [[(1, 1)], [(2, 1)], [(3, 1)]]


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "yaml"])
def test_every_empty_result_says_why(run: Run, any_repo: str, fmt: str) -> None:
    # query-dimension-records said only "No visit records found."; query-datasets -f json printed [] alone
    records = run("query-dimension-records", any_repo, "visit", "-d", "visit=99", "-f", fmt)
    datasets = run("query-datasets", any_repo, "meta", "-d", "visit=99", "-f", fmt)
    for result in (records, datasets):
        assert result.exit_code == 0, result.output
        why = result.stdout if fmt == "table" else result.stderr
        assert "  No visit record has the value 99.\n" in why
        if fmt != "table":  # a script reads stdout: only the empty result is there
            assert "No visit record" not in result.stdout


def test_an_element_without_records_says_how_to_add_them(run: Run, sample_repo: str) -> None:
    result = run("query-dimension-records", sample_repo, "exposure")
    assert result.stdout == (
        "No exposure records found.\n"
        "  The repository has no exposure records; add them with `skybutler insert-dimension-records`.\n"
    )
