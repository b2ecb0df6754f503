"""The `Database` wrapper: transactions roll back as a whole, errors are ours, SQLite is set up as documented,
and bulk commits leave SQLite's checkpoint to a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from skybutler.errors import ConflictError, StorageError
from skybutler.registry import Registry
from skybutler.registry._engines import _ANALYZE_ROWS, _BULK_ROWS


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


def _insert_then_fail_a_statement(registry: Registry) -> None:
    with registry.db.transaction() as conn:
        registry.insert_dimension_records("band", [{"name": "r"}])
        conn.execute(sa.text("SELECT * FROM no_such_table"))


def test_a_driver_error_inside_a_transaction_is_a_storage_error_and_rolls_back(registry: Registry) -> None:
    with pytest.raises(StorageError, match="rolled back") as info:
        _insert_then_fail_a_statement(registry)
    assert isinstance(info.value.__cause__, sa.exc.DBAPIError)
    assert _bands(registry) == []
    registry.insert_dimension_records("band", [{"name": "i"}])  # the connection is usable afterwards
    assert _bands(registry) == ["i"]


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


def _bulk_bands(registry: Registry, n: int, *, fail: bool = False, prefix: str = "b") -> list[str]:
    """Insert ``n`` bands with `insert_many` in one transaction; return the SQL the connection ran for it."""
    db = registry.db
    band = registry.dimension_tables["band"]
    statements: list[str] = []
    raw = db.conn.connection.driver_connection if db.dialect == "sqlite" else None
    if raw is not None:
        raw.set_trace_callback(statements.append)
    try:
        with db.transaction() as conn:
            db.insert_many(conn, band, ("name",), [(f"{prefix}{i}",) for i in range(n)])
            if fail:
                raise AbortError
    finally:
        if raw is not None:
            raw.set_trace_callback(None)
    return [s for s in statements if "wal_autocheckpoint" in s or s in ("COMMIT", "ROLLBACK")]


def _wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_bulk_commit_leaves_its_sqlite_checkpoint_to_a_background_thread(registry: Registry) -> None:
    db = registry.db
    statements = _bulk_bands(registry, _BULK_ROWS)
    assert len(_bands(registry)) == _BULK_ROWS
    if db.dialect != "sqlite":  # the server checkpoints on its own
        assert db.background_checkpoints == 0
        return
    # SQLite's inline checkpoint is off for the commit only, and the thread runs one afterwards.
    assert statements == ["PRAGMA wal_autocheckpoint = 0", "COMMIT", "PRAGMA wal_autocheckpoint = 1000"]
    assert _wait_for(lambda: db.background_checkpoints >= 1)
    with db.transaction(write=False) as conn:
        assert conn.execute(sa.text("PRAGMA wal_autocheckpoint")).scalar() == 1000


def test_a_bulk_commit_past_the_bound_truncates_the_sqlite_log(registry: Registry) -> None:
    """Issue 26 part 5: a bulk load's write-ahead log stays bounded (it grew to 9 GB at 3 M datasets)."""
    db = registry.db
    if db.dialect != "sqlite":
        return
    checkpointer = db._checkpointer
    assert checkpointer is not None
    wal = Path(checkpointer._path + "-wal")
    _bulk_bands(registry, _BULK_ROWS, prefix="a")  # below the bound: left to the thread, the log stays
    assert checkpointer.truncated == 0
    assert wal.stat().st_size > 0
    assert _wait_for(lambda: db.background_checkpoints >= 1)  # the thread's checkpoint would make the next one busy
    checkpointer.wal_bound = 4096
    _bulk_bands(registry, _BULK_ROWS, prefix="b")
    assert checkpointer.truncated == 1
    assert wal.stat().st_size == 0  # copied back into the database and emptied
    assert len(_bands(registry)) == 2 * _BULK_ROWS
    with db.transaction(write=False) as conn:  # the writer's busy timeout is restored
        assert conn.execute(sa.text("PRAGMA busy_timeout")).scalar() == int(db.busy_timeout * 1000)


def test_small_and_failed_transactions_keep_sqlites_own_checkpoint(registry: Registry) -> None:
    db = registry.db
    assert _bulk_bands(registry, 10) == (["COMMIT"] if db.dialect == "sqlite" else [])
    with pytest.raises(AbortError):
        _bulk_bands(registry, _BULK_ROWS, fail=True, prefix="x")
    assert len(_bands(registry)) == 10
    assert db.background_checkpoints == 0


def test_close_waits_for_the_background_checkpoint(registry_url: tuple[str, str | None], universe: Any) -> None:
    url, schema = registry_url

    def checkpointers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "skybutler-checkpoint" and t.is_alive()}

    before = checkpointers()  # registries other tests of this process left open are not this one's to wait for
    registry = Registry.create(url, universe=universe, schema=schema)
    _bulk_bands(registry, _BULK_ROWS)
    registry.close()
    assert not checkpointers() - before
    reopened = Registry.open(url, schema=schema)
    try:
        assert len(_bands(reopened)) == _BULK_ROWS
    finally:
        reopened.close()


def _never_analyzed(registry: Registry, table: str) -> bool:
    with registry.db.transaction(write=False) as conn:
        tuples = conn.execute(
            sa.text(
                "SELECT reltuples FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relname = :t"
            ),
            {"t": table},
        ).scalar_one()
    return bool(tuples < 0)


def test_postgresql_analyzes_tables_once_they_hold_enough_rows(registry: Registry) -> None:
    if registry.db.dialect == "sqlite":  # SQLite plans without statistics, by decision (docs/concepts.md)
        _bulk_bands(registry, _BULK_ROWS)
        assert _no_sqlite_statistics(registry)
        return
    _bulk_bands(registry, 10, prefix="s")
    assert _never_analyzed(registry, "band")  # a few rows: statistics are left to autovacuum
    _bulk_bands(registry, _ANALYZE_ROWS)
    assert not _never_analyzed(registry, "band")
    assert _never_analyzed(registry, "physical_filter")  # only the tables that were filled


def _no_sqlite_statistics(registry: Registry) -> bool:
    with registry.db.transaction(write=False) as conn:
        return not conn.execute(sa.text("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")).all()


def test_postgresql_counts_rows_across_small_commits(registry: Registry) -> None:
    sqlite = registry.db.dialect == "sqlite"
    for k in range(_ANALYZE_ROWS // 100 - 1):
        _bulk_bands(registry, 100, prefix=f"p{k}_")
    assert _no_sqlite_statistics(registry) if sqlite else _never_analyzed(registry, "band")
    _bulk_bands(registry, 100, prefix="last_")  # the commit that reaches the threshold
    assert _no_sqlite_statistics(registry) if sqlite else not _never_analyzed(registry, "band")


def test_the_checkpoint_thread_finds_a_relative_database_after_a_change_of_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, universe: Any
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    registry = Registry.create("sqlite:///registry.sqlite3", universe=universe)
    try:
        monkeypatch.chdir(tmp_path / "b")  # before the thread's first connection
        _bulk_bands(registry, _BULK_ROWS)
        assert _wait_for(lambda: registry.db.background_checkpoints >= 1)
    finally:
        registry.close()
    assert not (tmp_path / "b" / "registry.sqlite3").exists()  # no stray database made where it was not


def test_a_bulk_look_up_in_several_statements_reads_one_snapshot(registry: Registry) -> None:
    """`select_in` over several chunks: on SQLite (reads in autocommit) the chunks run inside one BEGIN, so a
    remove committed between two of them cannot be seen half-way; the answer holds every row asked for."""
    db = registry.db
    names = [f"run{i}" for i in range(5)]
    for name in names:
        registry.register_run(name)
    table = registry.tables.collection
    seen: list[str] = []
    if db.dialect == "sqlite":
        db._driver().set_trace_callback(seen.append)
    try:
        rows = db.select_in(table, ["name"], "name", names, chunk=2)
    finally:
        if db.dialect == "sqlite":
            db._driver().set_trace_callback(None)
    assert sorted(r[0] for r in rows) == names
    if db.dialect == "sqlite":
        assert len(seen) == 5, seen
        assert (seen[0], seen[-1]) == ("BEGIN", "COMMIT"), seen
        seen.clear()
        db._driver().set_trace_callback(seen.append)
        try:
            assert len(db.select_in(table, ["name"], "name", names[:2], chunk=2)) == 2  # one statement: no BEGIN
        finally:
            db._driver().set_trace_callback(None)
        assert len(seen) == 1, seen
