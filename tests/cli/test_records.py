"""insert-dimension-records from YAML, CSV and stdin; a refused file inserts nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Run, run_process

from skybutler.butler import Butler


def _names(root: str, element: str) -> list[str]:
    with Butler(root) as butler:
        return sorted(str(r.name) for r in butler.query_dimension_records(element))


def test_yaml_and_csv(run: Run, tmp_path: Path) -> None:
    root = Butler.create(tmp_path / "r")
    records = tmp_path / "instrument.yaml"
    records.write_text("- {name: Cam, detector_max: 10, visit_max: 1000}\n")
    result = run("insert-dimension-records", root, "instrument", str(records))
    assert result.exit_code == 0, result.output
    assert result.stdout == "Inserted 1 instrument record(s).\n"
    (tmp_path / "bands.yaml").write_text("records:\n  - {name: r}\n  - {name: g}\n")
    assert run("insert-dimension-records", root, "band", str(tmp_path / "bands.yaml")).exit_code == 0
    (tmp_path / "filters.csv").write_text("instrument,name,band\nCam,Cam-r,r\nCam,Cam-g,g\n")
    assert run("insert-dimension-records", root, "physical_filter", str(tmp_path / "filters.csv")).exit_code == 0
    assert _names(root, "physical_filter") == ["Cam-g", "Cam-r"]
    again = run("insert-dimension-records", root, "band", str(tmp_path / "bands.yaml"), "--skip-existing")
    assert again.stdout == "Inserted 0 band record(s); 2 existed already.\n"


def test_csv_round_trip_with_timespans(run: Run, sample_repo: str, tmp_path: Path) -> None:
    exported = run("query-dimension-records", sample_repo, "day_obs", "-f", "csv").stdout
    assert exported.splitlines()[0] == "instrument,id,timespan_begin,timespan_end"
    root = Butler.create(tmp_path / "other")
    (tmp_path / "i.yaml").write_text("- {name: Cam, detector_max: 10, visit_max: 1000}\n")
    run("insert-dimension-records", root, "instrument", str(tmp_path / "i.yaml"))
    result = run("insert-dimension-records", root, "day_obs", "-", "--file-format", "csv", input=exported)
    assert result.exit_code == 0, result.output
    again = run("query-dimension-records", root, "day_obs", "-f", "json").stdout
    assert json.loads(again) == json.loads(run("query-dimension-records", sample_repo, "day_obs", "-f", "json").stdout)


def test_yaml_and_json_round_trip_with_timespans(run: Run, sample_repo: str, tmp_path: Path) -> None:
    # -f yaml/json print the same flat rows as CSV (timespan_begin, timespan_end): insert reads them back too
    root = Butler.create(tmp_path / "other")
    (tmp_path / "i.yaml").write_text("- {name: Cam, detector_max: 10, visit_max: 1000}\n")
    run("insert-dimension-records", root, "instrument", str(tmp_path / "i.yaml"))
    original = run("query-dimension-records", sample_repo, "day_obs", "-f", "json").stdout
    for fmt in ("yaml", "json"):
        exported = tmp_path / f"day_obs.{fmt}"
        exported.write_text(run("query-dimension-records", sample_repo, "day_obs", "-f", fmt).stdout)
        result = run("insert-dimension-records", root, "day_obs", str(exported), "--skip-existing")
        assert result.exit_code == 0, (fmt, result.output)
    assert json.loads(run("query-dimension-records", root, "day_obs", "-f", "json").stdout) == json.loads(original)


def test_a_bad_record_inserts_nothing(run: Run, sample_repo: str, tmp_path: Path) -> None:
    (tmp_path / "bands.yaml").write_text("- {name: i}\n- {name: z, colour: blue}\n")
    result = run("insert-dimension-records", sample_repo, "band", str(tmp_path / "bands.yaml"))
    assert result.exit_code == 1
    assert result.stderr.startswith("error [data-id]: Unknown field(s) ['colour']")
    assert _names(sample_repo, "band") == ["g", "r"]
    (tmp_path / "bad.yaml").write_text("name: i\n")
    wrong = run("insert-dimension-records", sample_repo, "band", str(tmp_path / "bad.yaml"))
    assert wrong.exit_code == 1
    assert "must hold a list of records" in wrong.stderr
    missing = run("insert-dimension-records", sample_repo, "band", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr


def test_insert_as_a_process(sample_repo: str, tmp_path: Path) -> None:
    (tmp_path / "bands.csv").write_text("name\ni\nz\n")
    done = run_process("insert-dimension-records", sample_repo, "band", str(tmp_path / "bands.csv"))
    assert done.returncode == 0, done.stderr
    assert _names(sample_repo, "band") == ["g", "i", "r", "z"]
