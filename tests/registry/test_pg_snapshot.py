"""PostgreSQL: a read transaction of several statements sees one snapshot, whatever commits meanwhile."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from skybutler.errors import StorageError
from skybutler.registry import Database
from skybutler.testing.fixtures import POSTGRES_URL, fresh_schema

pytestmark = pytest.mark.postgres


def _show(conn: sa.Connection) -> list[str]:
    names = ("transaction_isolation", "transaction_read_only")
    return [str(conn.exec_driver_sql(f"SHOW {name}").scalar()) for name in names]


def test_a_read_of_several_statements_does_not_see_a_commit_made_between_them() -> None:
    with fresh_schema(POSTGRES_URL) as schema:
        reader = Database(POSTGRES_URL, schema=schema)
        writer = Database(POSTGRES_URL, schema=schema)
        try:
            with writer.transaction() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
                conn.exec_driver_sql("CREATE TABLE t (x integer)")
                conn.exec_driver_sql("INSERT INTO t VALUES (1), (2)")
            with reader.transaction(write=False) as conn:
                before = conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
                with writer.transaction() as other:  # a concurrent remove, committed between the two reads
                    other.exec_driver_sql("DELETE FROM t WHERE x = 1")
                after = conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
                assert _show(conn) == ["repeatable read", "on"]
            assert before == after == 2
            with reader.transaction(write=False) as conn:  # the next read sees the remove
                assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
            with reader.transaction() as conn:  # writes keep PostgreSQL's default level
                assert _show(conn) == ["read committed", "off"]
        finally:
            reader.close()
            writer.close()


def test_a_write_inside_a_read_transaction_is_refused_and_nothing_is_written() -> None:
    with fresh_schema(POSTGRES_URL) as schema:
        db = Database(POSTGRES_URL, schema=schema)
        try:
            with db.transaction() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
                conn.exec_driver_sql("CREATE TABLE t (x integer)")
            with pytest.raises(StorageError, match="read-only transaction"), db.transaction(write=False) as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            with db.transaction(write=False) as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
        finally:
            db.close()
