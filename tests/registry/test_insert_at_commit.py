"""`Database.insert_at_commit`: a transaction's last insert goes with its COMMIT on PostgreSQL (one round trip
instead of two), and stays all-or-nothing; elsewhere it is an ordinary insert."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from tests.registry._statements import round_trips

from skybutler.errors import ConflictError
from skybutler.registry import Database
from skybutler.registry._pg_writes import lock_and_read, own_begin

_META = sa.MetaData()
_TABLE = sa.Table("kv", _META, sa.Column("k", sa.Integer, primary_key=True), sa.Column("v", sa.String(8)))


@pytest.fixture
def db(registry_url: tuple[str, str | None]) -> Iterator[Database]:
    url, schema = registry_url
    database = Database(url, schema=schema)
    with database.transaction() as conn:
        if schema is not None:
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        _META.create_all(conn)
    yield database
    database.close()


def _rows(db: Database) -> list[tuple[int, str]]:
    with db.transaction(write=False) as conn:
        return [(int(k), str(v)) for k, v in conn.execute(sa.select(_TABLE).order_by(_TABLE.c.k))]


def _open(db: Database, conn: sa.Connection) -> None:
    """Start the transaction as certify does: BEGIN, a lock and a read in one round trip on PostgreSQL."""
    if lock_and_read(db, conn, "kv", sa.select(_TABLE.c.k), {}) is None:
        db.lock(conn, "kv")
        conn.execute(sa.select(_TABLE.c.k)).all()


@contextmanager
def _wire(db: Database) -> Iterator[list[str]]:
    if db.dialect != "postgresql":
        yield []
        return
    with round_trips(db) as trips:
        yield trips


def test_the_last_insert_goes_with_the_commit(db: Database) -> None:
    with _wire(db) as trips, own_begin(db), db.transaction() as conn:
        _open(db, conn)
        db.insert_at_commit(conn, _TABLE, [{"k": 1, "v": "a"}, {"v": "b", "k": 2}])  # (key order may differ)
    assert _rows(db) == [(1, "a"), (2, "b")]
    if db.dialect == "postgresql":
        assert len(trips) == 2, trips  # BEGIN, lock and read; then the insert and COMMIT (was: insert; COMMIT)
        assert trips[1].endswith("COMMIT"), trips
        assert trips[1] != "COMMIT", trips


def test_a_refused_insert_at_commit_leaves_nothing_and_the_database_usable(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(_TABLE.insert(), [{"k": 1, "v": "a"}])
    refused: type[Exception] = ConflictError if db.dialect == "postgresql" else sa.exc.IntegrityError
    with pytest.raises(refused), own_begin(db), db.transaction() as conn:  # noqa: PT012 (the whole transaction)
        _open(db, conn)
        conn.execute(_TABLE.insert(), [{"k": 5, "v": "e"}])
        db.insert_at_commit(conn, _TABLE, [{"k": 1, "v": "again"}])  # PostgreSQL: refused at the commit
    assert _rows(db) == [(1, "a")]  # the insert before it was rolled back with it
    with own_begin(db), db.transaction() as conn:
        _open(db, conn)
        db.insert_at_commit(conn, _TABLE, [{"k": 6, "v": "f"}])
    assert _rows(db) == [(1, "a"), (6, "f")]


def test_elsewhere_the_rows_are_inserted_at_once(db: Database) -> None:
    """In a transaction psycopg began itself (no `own_begin`), the rows are sent at once: a read sees them."""
    with db.transaction() as conn:
        db.insert_at_commit(conn, _TABLE, [{"k": 3, "v": "c"}])
        assert conn.execute(sa.select(_TABLE.c.v)).scalars().all() == ["c"]
    assert _rows(db) == [(3, "c")]
