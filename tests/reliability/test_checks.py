"""The crash suite's checks catch what they look for: a planted violation of each kind is reported.

Without this, a check that silently passed everything would make every crash test pass too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from skybutler.butler import Butler
from skybutler.testing.crash import CrashError, Kill, crash_once, prepare_repository
from skybutler.testing.invariants import (
    DATASET_TYPE,
    InvariantError,
    check_repository,
    check_sources,
    content_for,
)

RUN = "checks"


def _repository(tmp_path: Path) -> tuple[str, list[Path]]:
    """A crash repository with two datasets in run `RUN`; returns its root and their files."""
    root = prepare_repository(tmp_path / "repo")
    paths = []
    with Butler(root, run=RUN) as butler:
        for visit in (1, 2):
            data_id = {"instrument": "Cam", "visit": visit, "detector": 0}
            ref = butler.put(content_for(RUN, visit=visit, detector=0), DATASET_TYPE, data_id)
            paths.append(Path(butler.get_uri(ref).removeprefix("file://")))
    return root, paths


def test_a_sound_repository_passes(tmp_path: Path) -> None:
    root, _ = _repository(tmp_path)
    report = check_repository(root)
    assert (report.datasets, report.losses, report.problems) == (12, 0, [])  # 10 biases + 2


def test_a_dataset_holding_another_datasets_bytes_is_a_loss(tmp_path: Path) -> None:
    root, (first, second) = _repository(tmp_path)
    shutil.copyfile(second, first)
    report = check_repository(root, raise_on_error=False)
    assert report.losses == 1
    assert any("corrupt" in p for p in report.problems), report.problems


def test_a_dataset_reading_back_another_object_is_a_loss(tmp_path: Path) -> None:
    root, _ = _repository(tmp_path)
    with Butler(root, run=RUN) as butler:  # what a collision would give: the bytes of another run's dataset
        obj = content_for("elsewhere", visit=3, detector=0)
        butler.put(obj, DATASET_TYPE, {"instrument": "Cam", "visit": 3, "detector": 0})
    with pytest.raises(InvariantError, match="read back"):
        check_repository(root)


def test_a_missing_file_is_a_loss(tmp_path: Path) -> None:
    root, (first, _) = _repository(tmp_path)
    first.unlink()
    report = check_repository(root, raise_on_error=False)
    assert report.losses >= 1
    assert any("missing" in p for p in report.problems), report.problems


def test_an_unknown_file_is_reported(tmp_path: Path) -> None:
    root, (first, _) = _repository(tmp_path)
    (first.parent / "stray.json").write_text("{}")
    with pytest.raises(InvariantError, match="unknown artifact"):
        check_repository(root)


def test_a_source_gone_without_its_dataset_is_a_lost_source(tmp_path: Path) -> None:
    root, _ = _repository(tmp_path)
    sources = tmp_path / "sources"
    sources.mkdir()
    for k in (0, 2):  # 1 was written (2 comes after it) and is gone, yet nothing is registered in the run
        (sources / f"{k:05d}.json").write_text("{}")
    assert check_sources(root, sources, "never-made") == 1


def test_a_child_that_fails_instead_of_dying_is_a_harness_error(tmp_path: Path) -> None:
    root = Butler.create(tmp_path / "bare")  # no dataset types: the writer's first put fails
    with pytest.raises(CrashError, match="DatasetTypeError"):
        crash_once(root, tmp_path, Kill("put", 0, 1, at_call=3), timeout=60)
