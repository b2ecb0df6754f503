"""Bulk inserts on SQLite build an empty tags table's lookup indexes after the rows (`registry._bulk_load`).

The threshold is lowered to 3 rows here.  What must hold: the indexes afterwards are exactly the ones the
schema made (same names, same SQL), whether the insert succeeded, failed and the caller went on in the same
transaction, or failed and the transaction was rolled back; every row is still checked (uniqueness and keys);
the page cache is back to what it was.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from skybutler.datasets import DatasetType
from skybutler.registry import NewDataset, Registry, StoredDatasetType, _bulk_load


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_bulk_load, "DEFER_INDEXES_ROWS", 3)


@pytest.fixture
def calexp(sample: Registry) -> StoredDatasetType:
    sample.register_dataset_type(
        DatasetType("calexp", ["visit", "detector"], "StructuredDataDict", universe=sample.universe)
    )
    for name in ("run1", "run2"):
        sample.register_run(name)
    return sample.dataset_types.get("calexp")


def _raw(registry: Registry) -> sqlite3.Connection:
    conn: Any = registry.db.conn.connection.driver_connection
    return conn  # type: ignore[no-any-return]


def _indexes(registry: Registry, table: str) -> list[Any]:
    """The table's indexes as the database reports them (on SQLite with their SQL text, and the autoindexes)."""
    with registry.db.transaction(write=False) as conn:
        found: list[Any] = sorted(map(repr, sa.inspect(conn).get_indexes(table)))
    if registry.db.dialect == "sqlite":
        rows = _raw(registry).execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? ORDER BY name", (table,)
        )
        found += rows.fetchall()
    return found


def _integrity(registry: Registry) -> None:
    if registry.db.dialect == "sqlite":
        assert _raw(registry).execute("PRAGMA integrity_check").fetchall() == [("ok",)]


@pytest.fixture
def statements(sample: Registry) -> Iterator[list[str]]:
    """The SQL run on SQLite's driver connection during the test (nothing is recorded on PostgreSQL)."""
    seen: list[str] = []
    if sample.db.dialect != "sqlite":
        yield seen
        return
    _raw(sample).set_trace_callback(seen.append)
    yield seen
    _raw(sample).set_trace_callback(None)


def _batch(visits: range, detectors: range) -> list[NewDataset]:
    return [NewDataset(uuid.uuid4(), ("Cam", d, v), None) for v in visits for d in detectors]


def test_an_empty_tags_table_gets_its_indexes_back_after_a_bulk_insert(
    sample: Registry, calexp: StoredDatasetType, statements: list[str]
) -> None:
    table = calexp.tags.name
    before = _indexes(sample, table)
    sqlite = sample.db.dialect == "sqlite"
    if sqlite:
        assert len([row for row in before if isinstance(row, tuple) and row[1]]) == 2  # data ID and visit lookup
        ((cache,),) = _raw(sample).execute("PRAGMA cache_size").fetchall()
    sample.datasets.insert(calexp, sample.get_collection("run1").id, _batch(range(6), range(4)))
    assert any(s.startswith("DROP INDEX") for s in statements) == sqlite
    assert _indexes(sample, table) == before
    _integrity(sample)
    if sqlite:
        assert _raw(sample).execute("PRAGMA cache_size").fetchall() == [(cache,)]
    assert len(sample.datasets.in_run(calexp, sample.get_collection("run1").id)) == 24
    # The table is no longer empty: a second bulk insert keeps its indexes in place.
    statements.clear()
    sample.datasets.insert(calexp, sample.get_collection("run2").id, _batch(range(6), range(4)))
    assert not any(s.startswith("DROP INDEX") for s in statements)
    assert _indexes(sample, table) == before


@pytest.mark.parametrize("problem", ["same data ID", "unknown visit"])
def test_a_refused_bulk_insert_still_checks_every_row_and_leaves_the_indexes(
    sample: Registry, calexp: StoredDatasetType, problem: str
) -> None:
    table = calexp.tags.name
    before = _indexes(sample, table)
    batch = _batch(range(6), range(4))
    if problem == "same data ID":
        batch.append(NewDataset(uuid.uuid4(), batch[5].values, None))
    else:
        batch.append(NewDataset(uuid.uuid4(), ("Cam", 0, 99), None))
    run = sample.get_collection("run1").id
    with pytest.raises(sa.exc.IntegrityError):
        sample.datasets.insert(calexp, run, batch)  # its own transaction, rolled back
    assert _indexes(sample, table) == before
    assert sample.datasets.count() == 0
    # A caller that goes on in the same transaction after the refusal commits the indexes as they were.
    with sample.db.transaction():
        with pytest.raises(sa.exc.IntegrityError), sample.db.explainable():  # a savepoint on PostgreSQL only
            sample.datasets.insert(calexp, run, batch)
        sample.datasets.insert(calexp, sample.get_collection("run2").id, _batch(range(1), range(1)))
    assert _indexes(sample, table) == before
    _integrity(sample)
