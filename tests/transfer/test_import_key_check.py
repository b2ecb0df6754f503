"""A bulk import on SQLite checks its foreign keys once, at the end of its transaction (`registry._key_check`).

The thresholds are lowered so that a 25-dataset file takes that path.  What must hold: a refused import fails
with exactly the error the row-by-row path gives (the import is redone that way when the first attempt fails)
and leaves the repository as it was; a successful one imports everything; either way the connection has its
foreign keys back on.  On PostgreSQL the path is never taken and the same tests hold.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.registry._statements import statements
from tests.transfer._export_header import HEADER

from skybutler.butler import DirectButler
from skybutler.errors import SkyButlerError
from skybutler.registry import _key_check
from skybutler.testing.sample import populate_sample
from skybutler.transfer._yaml_fast import dataset_entry_text

Snapshot = Callable[[DirectButler], dict[str, Any]]
N = 25
KEYS_OFF = "PRAGMA foreign_keys = OFF"


def _export(path: Path, data_ids: list[tuple[int, int]]) -> Path:
    records = [(uuid.uuid4(), {"instrument": "Cam", "detector": d, "visit": v}, None, None) for d, v in data_ids]
    path.write_text(HEADER + dataset_entry_text("meta", "run1", records))
    return path


def _keys_on(butler: DirectButler) -> bool:
    db = butler.registry.db
    if db.dialect != "sqlite":
        return True
    return bool(db._driver().execute("PRAGMA foreign_keys").fetchall() == [(1,)])


def _refusal(butler: DirectButler, path: Path, monkeypatch: pytest.MonkeyPatch, min_rows: int) -> tuple[str, bool]:
    """The error of importing ``path`` with the threshold at ``min_rows``; whether keys were turned off for it."""
    monkeypatch.setattr(_key_check, "MIN_ROWS", min_rows)
    monkeypatch.setattr(_key_check, "BYTES_PER_ROW", 10**6)  # the sample repository outweighs 25 datasets
    with statements(butler.registry.db) as sent, pytest.raises(SkyButlerError) as info:
        butler.import_(path)
    return f"{type(info.value).__name__}: {info.value}", any(KEYS_OFF in s for s in sent)


@pytest.mark.parametrize(
    "problem",
    ["a missing detector", "a missing visit", "one data ID twice in the run"],
)
def test_a_refused_bulk_import_fails_as_row_by_row_and_changes_nothing(
    dest: DirectButler, snapshot: Snapshot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    populate_sample(dest, n_visits=N // 5, n_detectors=5)
    data_ids = [(i % 5, i // 5) for i in range(N)]
    data_ids[-1] = {"a missing detector": (99, 0), "a missing visit": (0, 999)}.get(problem, data_ids[0])
    path = _export(tmp_path / "export.yaml", data_ids)
    before = snapshot(dest)
    at_end, checked = _refusal(dest, path, monkeypatch, 3)
    assert snapshot(dest) == before
    assert _keys_on(dest)
    row_by_row, unchecked = _refusal(dest, path, monkeypatch, 10**9)
    assert at_end == row_by_row
    assert "Nothing was imported" in at_end
    assert snapshot(dest) == before
    assert checked == (dest.registry.db.dialect == "sqlite")
    assert not unchecked


def test_a_bulk_import_with_keys_checked_at_end_imports_everything(
    dest: DirectButler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_key_check, "MIN_ROWS", 3)
    monkeypatch.setattr(_key_check, "BYTES_PER_ROW", 10**6)
    populate_sample(dest, n_visits=N // 5, n_detectors=5)
    path = _export(tmp_path / "export.yaml", [(i % 5, i // 5) for i in range(N)])
    with statements(dest.registry.db) as sent:
        report = dest.import_(path)
    assert report.datasets == N
    assert any("PRAGMA foreign_key_check" in s for s in sent) == (dest.registry.db.dialect == "sqlite")
    assert any(KEYS_OFF in s for s in sent) == (dest.registry.db.dialect == "sqlite")
    assert _keys_on(dest)
    found = dest.query_datasets("meta", collections="run1", where="visit = 3")
    assert sorted(ref.data_id["detector"] for ref in found) == [0, 1, 2, 3, 4]
