"""A SQLite bulk transaction whose foreign keys are checked once at its end (`registry._key_check`).

What must hold: a row naming a missing parent is still refused (a `ConflictError` before the commit) and
nothing is written; the connection has its foreign keys back on afterwards, whatever happened; the path is
taken only where it pays (SQLite, enough rows, a database no larger than what they add, no transaction open).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from skybutler.datasets import DatasetType
from skybutler.errors import ConflictError
from skybutler.registry import NewDataset, Registry, _key_check
from skybutler.registry._key_check import keys_checked_at_end, worth_checking_at_end


@pytest.fixture
def sqlite_sample(sample: Registry) -> Registry:
    if sample.db.dialect != "sqlite":
        pytest.skip("foreign keys are checked at the end on SQLite only")
    sample.register_dataset_type(
        DatasetType("calexp", ["visit", "detector"], "StructuredDataDict", universe=sample.universe)
    )
    sample.register_run("run1")
    return sample


def _keys_on(registry: Registry) -> bool:
    raw: sqlite3.Connection = registry.db._driver()
    return bool(raw.execute("PRAGMA foreign_keys").fetchall() == [(1,)])


def _dataset_rows(registry: Registry) -> list[Any]:
    with registry.db.transaction(write=False) as conn:
        return list(conn.exec_driver_sql("SELECT id, run_id FROM dataset").all())


def test_a_row_naming_a_missing_parent_is_refused_at_the_end_and_nothing_is_written(sqlite_sample: Registry) -> None:
    db, table = sqlite_sample.db, sqlite_sample.tables.dataset
    stored = sqlite_sample.dataset_types.get("calexp")
    run = sqlite_sample.collections.get("run1").id
    good = [(uuid.uuid4().hex, stored.id, run, time.time_ns())]
    bad = [(uuid.uuid4().hex, stored.id, 9999, time.time_ns())]  # no collection 9999
    columns = ("id", "dataset_type_id", "run_id", "ingest_date")

    def load(rows: list[tuple[Any, ...]]) -> None:
        with keys_checked_at_end(db) as conn:
            db.insert_many(conn, table, columns, rows)  # a bad row is accepted here: keys are off in the block

    with pytest.raises(ConflictError, match="'dataset' names a 'collection' row that does not exist"):
        load(good + bad)
    assert _dataset_rows(sqlite_sample) == []
    assert _keys_on(sqlite_sample)
    load(good)  # the same block without the bad row commits
    assert _dataset_rows(sqlite_sample) == [(good[0][0], run)]
    assert _keys_on(sqlite_sample)
    with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"):  # ordinary transactions check row by row
        sqlite_sample.datasets.insert(stored, 9999, [NewDataset(uuid.uuid4(), ("Cam", 1, 1), None)])


def test_an_error_inside_the_block_rolls_back_and_turns_keys_back_on(sqlite_sample: Registry) -> None:
    db = sqlite_sample.db

    def stopped() -> None:
        with keys_checked_at_end(db):
            sqlite_sample.register_run("run2")
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        stopped()
    sqlite_sample.forget_cached()  # (as callers do after a failed transaction)
    assert sqlite_sample.collections.find("run2") is None
    assert _keys_on(sqlite_sample)


def test_the_path_is_taken_only_where_it_pays(sqlite_sample: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    db = sqlite_sample.db
    assert worth_checking_at_end(db, 100_000)
    assert not worth_checking_at_end(db, _key_check.MIN_ROWS - 1)
    monkeypatch.setattr(_key_check, "BYTES_PER_ROW", 1)  # the database now outweighs what the rows add
    assert not worth_checking_at_end(db, 100_000)
    monkeypatch.undo()
    with db.transaction():  # keys cannot be turned off inside a transaction
        assert not worth_checking_at_end(db, 100_000)
        with pytest.raises(AssertionError), keys_checked_at_end(db):
            pass
