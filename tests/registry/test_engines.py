"""The `Database` wrapper: transactions roll back as a whole, errors are ours, SQLite is set up as documented."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from skybutler.errors import ConflictError
from skybutler.registry import Registry


class AbortError(Exception):
    """Raised by a test to abandon a transaction half-way."""


def _bands(registry: Registry) -> list[str]:
    return sorted(r.name for r in registry.fetch_dimension_records("band"))


def _insert_two_then_abort(registry: Registry) -> None:
    band = registry.dimension_tables["band"]
    with registry.db.transaction() as conn:
        conn.execute(band.insert(), [{"name": "r"}])
        with registry.db.transaction() as inner:  # nested blocks join the outer transaction
            inner.execute(band.insert(), [{"name": "g"}])
        raise AbortError


def test_an_exception_rolls_back_the_whole_transaction(registry: Registry) -> None:
    with pytest.raises(AbortError):
        _insert_two_then_abort(registry)
    assert _bands(registry) == []
    # The connection is usable afterwards.
    registry.insert_dimension_records("band", [{"name": "i"}])
    assert _bands(registry) == ["i"]


def _several_calls_then_abort(registry: Registry) -> None:
    with registry.db.transaction():
        registry.insert_dimension_records("band", [{"name": "r"}])
        registry.register_run("run")
        assert _bands(registry) == ["r"]  # reads inside the transaction see its writes
        raise AbortError


def test_manager_calls_inside_one_transaction_commit_together(registry: Registry) -> None:
    with pytest.raises(AbortError):
        _several_calls_then_abort(registry)
    assert _bands(registry) == []
    assert registry.query_collections() == []
    with registry.db.transaction():
        registry.insert_dimension_records("band", [{"name": "r"}])
        registry.insert_dimension_records("band", [{"name": "g"}])
    assert _bands(registry) == ["g", "r"]


def _insert_twice(registry: Registry) -> None:
    with registry.db.transaction():
        registry.insert_dimension_records("band", [{"name": "r"}])
        registry.insert_dimension_records("band", [{"name": "r"}])


def test_an_integrity_error_inside_an_outer_transaction_rolls_back_everything(registry: Registry) -> None:
    with pytest.raises(ConflictError):
        _insert_twice(registry)
    assert _bands(registry) == []


def test_writes_are_visible_to_another_connection_once_committed(registry: Registry) -> None:
    url = registry.db.url
    other = Registry.open(url, schema=registry.db.schema)
    try:
        registry.insert_dimension_records("band", [{"name": "r"}])
        assert _bands(other) == ["r"]
        other.insert_dimension_records("band", [{"name": "g"}])
        assert _bands(registry) == ["g", "r"]
    finally:
        other.close()


def test_connections_are_set_up_as_documented(registry: Registry) -> None:
    db = registry.db
    with db.transaction(write=False) as conn:
        if db.dialect == "sqlite":
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == 1  # NORMAL
            assert conn.execute(sa.text("PRAGMA busy_timeout")).scalar() == 60_000
        else:
            assert db.dialect == "postgresql"
            assert conn.execute(sa.text("SELECT current_schema()")).scalar() == db.schema
            assert conn.execute(sa.text("SHOW search_path")).scalar() == db.schema
        tables = set(sa.inspect(conn).get_table_names())
    assert {"butler_attributes", "alembic_version", "collection", "dataset", "band", "visit"} <= tables
