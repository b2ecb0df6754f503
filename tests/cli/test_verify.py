"""verify (ok, missing, corrupt, unknown; exit 1 on problems) and cache status/clear (local and S3 repositories)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from tests.cli.conftest import Run, run_process

from skybutler.butler import Butler
from skybutler.cli._verify import human_bytes
from skybutler.testing.sample import populate_sample


def _image_file(root: str, visit: int, detector: int) -> Path:
    with Butler(root) as butler:
        uri = butler.get_uri("image", instrument="Cam", visit=visit, detector=detector, collections="run1")
    return Path(str(uri).removeprefix("file://"))


def test_verify_a_sound_repository(run: Run, any_repo: str) -> None:
    result = run("verify", any_repo)
    assert result.exit_code == 0, result.output
    assert result.stdout == "14 ok, 0 missing, 0 corrupt, 0 unknown.\n"
    selected = run("verify", any_repo, "-c", "run1", "-t", "image", "-f", "json")
    assert selected.exit_code == 0, selected.output
    assert json.loads(selected.stdout) == []


def test_verify_reports_missing_corrupt_and_unknown_files(run: Run, any_repo: str) -> None:
    corrupt = _image_file(any_repo, 0, 0)
    corrupt.write_bytes(corrupt.read_bytes()[:-1] + b"\x01")
    _image_file(any_repo, 1, 1).unlink()
    (Path(any_repo) / "run1" / "stray.txt").write_text("left over")
    result = run("verify", any_repo)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "12 ok, 1 missing, 1 corrupt, 1 unknown."
    assert lines[1].strip() == "Problems"
    assert "corrupt" in result.stdout
    assert "stray.txt" in result.stdout
    assert result.stderr.startswith("2 file(s) missing or corrupt;")
    rows = json.loads(run("verify", any_repo, "-f", "json").stdout)
    assert sorted(r["status"] for r in rows) == ["corrupt", "missing", "unknown"]
    by_status = {r["status"]: r for r in rows}
    assert by_status["corrupt"]["uri"].endswith(corrupt.name)
    assert by_status["corrupt"]["detail"]
    assert by_status["unknown"]["id"] is None
    only_meta = run("verify", any_repo, "-t", "meta")
    assert only_meta.exit_code == 0  # the problems are in image files
    assert only_meta.stdout == "8 ok, 0 missing, 0 corrupt, 0 unknown.\n"


def test_verify_bad_arguments(run: Run, sample_repo: str, tmp_path: Path) -> None:
    result = run("verify", sample_repo, "-c", "nowhere*")
    assert result.exit_code == 1
    assert result.stderr == "error [collection]: No collection matches 'nowhere*'; see `skybutler query-collections`.\n"
    assert run("verify", str(tmp_path / "none")).exit_code == 1
    assert run("verify", sample_repo, "--format", "xml").exit_code == 2


def test_cache_of_a_local_repository(run: Run, tmp_path: Path) -> None:
    plain = Butler.create(tmp_path / "plain")
    none = run("cache", plain, "status")
    assert none.stdout == "No cache: datastore.cache.directory is not set for this repository.\n"
    cache_dir = tmp_path / "cache"
    root = Butler.create(tmp_path / "repo", config={"datastore": {"cache": {"directory": str(cache_dir)}}})
    status = run("cache", root, "status", "-f", "json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout) == [
        {"directory": str(cache_dir), "files": 0, "bytes": 0, "max_bytes": 10 << 30, "used": False}
    ]
    table = run("cache", root, "status")
    assert table.stdout.splitlines()[-1].startswith("note: this repository's files are local")
    assert run("cache", root, "clear").stdout == f"The cache at {cache_dir} is empty: nothing was deleted.\n"
    assert run("cache", root, "purge").exit_code == 2


def test_cache_status_without_a_cache_is_still_json(run: Run, tmp_path: Path) -> None:
    # as every script format's empty result: an empty list on stdout, the reason on stderr
    plain = Butler.create(tmp_path / "plain")
    for fmt, parse in (("json", json.loads), ("yaml", yaml.safe_load)):
        result = run("cache", plain, "status", "-f", fmt)
        assert result.exit_code == 0, result.output
        assert parse(result.stdout) == []
        assert "No cache" in result.stderr
    assert run("cache", plain, "status", "-f", "csv").stdout == ""


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1536, 10 << 30)] == ["0 B", "1023 B", "1.5 KiB", "10.0 GiB"]


@pytest.mark.s3
def test_cache_status_and_clear_of_an_s3_repository(
    run: Run, tmp_path: Path, s3_root: str, s3_endpoint: str
) -> None:  # fmt: skip
    cache_dir = tmp_path / "cache"
    config = {"datastore": {"transport": {"endpoint_url": s3_endpoint},
                            "cache": {"directory": str(cache_dir), "max_bytes": 1 << 20}}}  # fmt: skip
    root = Butler.create(tmp_path / "repo", datastore=s3_root, config=config)
    with Butler(root, run="run1") as butler:
        populate_sample(butler, n_visits=2, n_detectors=1)
        butler.register_dataset_type("arr", ["instrument", "visit", "detector"], "NumpyArray")
        for visit in range(2):
            butler.put(np.full(100, visit, "f8"), "arr", instrument="Cam", visit=visit, detector=0)
    with Butler(root, collections="run1") as butler:
        for visit in range(2):
            butler.get("arr", instrument="Cam", visit=visit, detector=0)
    (row,) = json.loads(run("cache", root, "status", "-f", "json").stdout)
    assert (row["files"], row["used"], row["max_bytes"]) == (2, True, 1 << 20)
    assert row["bytes"] > 1600
    table = run("cache", root, "status").stdout.splitlines()
    assert table[0] == f"directory: {cache_dir}"
    assert table[1].endswith("of 1.0 MiB (0.2 %)")
    assert table[2] == "entries:   2 file(s)"
    declined = run("cache", root, "clear", input="n\n")
    assert declined.exit_code == 1
    assert json.loads(run("cache", root, "status", "-f", "json").stdout)[0]["files"] == 2
    done = run_process("cache", root, "clear", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("Deleted 2 cached file(s).\n")
    assert json.loads(run("cache", root, "status", "-f", "json").stdout)[0]["files"] == 0
