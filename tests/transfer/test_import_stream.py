"""Registry-only imports read dataset entries in parts (inserted while the next is read, on PostgreSQL).

Parts are made small here (`PART` = 10 records) so that a 25-dataset file has three: the results, and the
errors of a bad record in the last part, must be those of a file read whole.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.transfer._export_header import HEADER

from skybutler.butler import DirectButler
from skybutler.errors import DataIdError, ExportFormatError
from skybutler.testing.sample import populate_sample
from skybutler.transfer import _yaml_fast
from skybutler.transfer._yaml_fast import DeferredDataset, dataset_entry_text, load_document, parse_deferred

Snapshot = Callable[[DirectButler], dict[str, Any]]
N = 25


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_yaml_fast, "PART", 10)


def _export(ids: list[uuid.UUID], detectors: list[Any] | None = None) -> str:
    detectors = detectors or [i % 5 for i in range(N)]
    records = [(ids[i], {"instrument": "Cam", "detector": detectors[i], "visit": i // 5}, None, None) for i in range(N)]
    return HEADER + dataset_entry_text("meta", "run1", records)


def _repository(dest: DirectButler) -> DirectButler:
    populate_sample(dest, n_visits=N // 5, n_detectors=5)
    return dest


def test_a_deferred_entry_is_cut_into_parts_that_read_as_the_whole() -> None:
    ids = [uuid.uuid4() for _ in range(N)]
    text = _export(ids)
    whole = load_document(text, "x")
    deferred = load_document(text, "x", defer_datasets=True)
    entry = deferred["data"][2]
    assert isinstance(entry, DeferredDataset)
    assert [(first, count) for _, first, count in entry.parts] == [(0, 10), (10, 10), (20, 5)]
    parts = [parse_deferred(entry, n, text, "x") for n in range(len(entry.parts))]
    assert [r for p in parts for r in p["records"]] == whole["data"][2]["records"]
    assert all(p["dataset_type"] == "meta" and p["run"] == "run1" for p in parts)
    assert deferred["data"][:2] == whole["data"][:2]


def test_registry_only_import_in_parts_registers_every_dataset(dest: DirectButler, tmp_path: Path) -> None:
    _repository(dest)
    ids = [uuid.uuid4() for _ in range(N)]
    path = tmp_path / "export.yaml"
    path.write_text(_export(ids))
    report = dest.import_(path)
    assert report.datasets == N
    refs = {ref.id: ref for ref in dest.query_datasets("meta", collections="run1")}
    assert set(refs) == set(ids)
    assert refs[ids[23]].data_id.required_values == ("Cam", 3, 4)


def test_a_bad_record_in_a_later_part_names_its_place_and_imports_nothing(
    dest: DirectButler, snapshot: Snapshot, tmp_path: Path
) -> None:
    _repository(dest)
    before = snapshot(dest)
    detectors: list[Any] = [i % 5 for i in range(N)]
    detectors[23] = "three"  # a detector ID is an integer
    path = tmp_path / "export.yaml"
    path.write_text(_export([uuid.uuid4() for _ in range(N)], detectors))
    with pytest.raises(ExportFormatError, match=r"data\[2\]\.records\[23\]\.data_id\[0\]"):
        dest.import_(path)
    assert snapshot(dest) == before


def test_an_unknown_record_in_a_later_part_is_refused_and_imports_nothing(
    dest: DirectButler, snapshot: Snapshot, tmp_path: Path
) -> None:
    _repository(dest)
    before = snapshot(dest)
    detectors = [i % 5 for i in range(N)]
    detectors[23] = 99  # no such detector: the database's key refuses it
    path = tmp_path / "export.yaml"
    path.write_text(_export([uuid.uuid4() for _ in range(N)], detectors))
    with pytest.raises(DataIdError, match="Nothing was imported"):
        dest.import_(path)
    assert snapshot(dest) == before


def test_reimporting_with_skip_existing_skips_across_parts(dest: DirectButler, tmp_path: Path) -> None:
    _repository(dest)
    ids = [uuid.uuid4() for _ in range(N)]
    path = tmp_path / "export.yaml"
    path.write_text(_export(ids))
    dest.import_(path)
    again = dest.import_(path, skip_existing=True)
    assert (again.datasets, again.skipped) == (0, N)
    assert dest.registry.datasets.count() == N
