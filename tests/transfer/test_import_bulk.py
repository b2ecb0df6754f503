"""A bulk import into empty tables builds their lookup indexes after the rows (SQLite, `registry._bulk_load`).

The threshold is lowered so that a 25-dataset file takes that path.  A refused import must leave the
registry exactly as it was, indexes included; a successful one, the indexes the schema makes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.transfer._export_header import HEADER

from skybutler.butler import DirectButler
from skybutler.errors import DataIdError
from skybutler.registry import _bulk_load
from skybutler.testing.sample import populate_sample
from skybutler.transfer._yaml_fast import dataset_entry_text

Snapshot = Callable[[DirectButler], dict[str, Any]]
N = 25


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_bulk_load, "DEFER_INDEXES_ROWS", 3)


def _export(path: Path, detectors: list[int]) -> Path:
    records = [(uuid.uuid4(), {"instrument": "Cam", "detector": d, "visit": i // 5}, None, None)
               for i, d in enumerate(detectors)]  # fmt: skip
    path.write_text(HEADER + dataset_entry_text("meta", "run1", records))
    return path


def _schema(butler: DirectButler) -> dict[str, Any]:
    """Every table's indexes as the database reports them (with their SQL text on SQLite)."""
    db = butler.registry.db
    with db.transaction(write=False) as conn:
        inspector = sa.inspect(conn)
        out: dict[str, Any] = {t: sorted(map(repr, inspector.get_indexes(t))) for t in inspector.get_table_names()}
        if db.dialect == "sqlite":
            out["sqlite_master"] = conn.exec_driver_sql(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name"
            ).all()
    return out


def test_a_refused_bulk_import_leaves_the_registry_and_its_indexes_as_they_were(
    dest: DirectButler, snapshot: Snapshot, tmp_path: Path
) -> None:
    populate_sample(dest, n_visits=N // 5, n_detectors=5)
    dest.register_dataset_type("meta", ["visit", "detector"], "StructuredDataDict")  # its tags table exists, empty
    before, indexes = snapshot(dest), _schema(dest)
    detectors = [i % 5 for i in range(N)]
    detectors[-1] = 99  # no such detector: the key check of the last row refuses the import
    with pytest.raises(DataIdError, match="Nothing was imported"):
        dest.import_(_export(tmp_path / "export.yaml", detectors))
    assert snapshot(dest) == before
    assert _schema(dest) == indexes


def test_a_bulk_import_leaves_the_indexes_the_schema_makes(dest: DirectButler, tmp_path: Path) -> None:
    populate_sample(dest, n_visits=N // 5, n_detectors=5)
    dest.register_dataset_type("meta", ["visit", "detector"], "StructuredDataDict")
    indexes = _schema(dest)
    report = dest.import_(_export(tmp_path / "export.yaml", [i % 5 for i in range(N)]))
    assert report.datasets == N
    assert _schema(dest) == indexes
    found = dest.query_datasets("meta", collections="run1", where="visit = 3")
    assert sorted(ref.data_id["detector"] for ref in found) == [0, 1, 2, 3, 4]
