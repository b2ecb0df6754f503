"""PostgreSQL query results in one round trip when they are small (issue 26 part 2).

A query's rows used to come through a server-side cursor in a transaction of their own: BEGIN, DECLARE, a FETCH
per page (SQLAlchemy's first is of one row), CLOSE and COMMIT, eight or more round trips for a result of a few
rows.  Here the query runs first as one plain statement with ``LIMIT cap + 1``: outside any transaction, in
autocommit (`single_statement_read`), it is one round trip, and one statement sees one snapshot, so a concurrent
remove is seen whole or not at all.  The rows wait in the driver's result buffer and are turned into tuples a
page at a time.  If the statement returns more than ``cap`` rows, the result is large: the caller drops them and
streams the query again through its server-side cursor, whose memory stays bounded by a page however many rows
there are (one wasted statement of ``cap`` rows against a large result's own cost).  A statement whose own
``LIMIT`` is at most ``cap`` never needs the cursor.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.errors import StorageError
from skybutler.registry._single_reads import single_statement_read

if TYPE_CHECKING:
    from skybutler.registry._engines import Database

__all__ = ["SMALL_ROWS", "read_all", "run_read", "small_select", "small_sql", "stream_select", "stream_text"]

SMALL_ROWS = 10_000
"""Rows up to which a PostgreSQL query's result is fetched in one statement (`Database.small_rows`)."""

_OWN_LIMIT = re.compile(r"\b(LIMIT|OFFSET)\s+\S+(\s+(LIMIT|OFFSET)\s+\S+)?\s*\Z", re.IGNORECASE)
"""A LIMIT or OFFSET at the end of a statement's text: a probe's LIMIT must then wrap it, not follow it."""


def small_select(db: Database, stmt: Any, page: int) -> Iterator[list[tuple[Any, ...]]] | None:
    """Pages of the rows of the SQLAlchemy SELECT ``stmt`` if it has at most `Database.small_rows`, else None.

    One statement (one round trip outside a transaction); None asks the caller to stream the query instead.
    The statement is compiled once per shape (`Database._compile_select`) and sent on the driver connection:
    SQLAlchemy's execution and row objects cost more client time than a small query's whole round trip.
    """
    cap = db.small_rows
    own = _own_limit(stmt)
    if own is not None and (own < 0 or own > cap):
        return None  # large by request (or a LIMIT not a number): straight to the cursor, without a probe
    sql, params = db._compile_select(stmt if own is not None else stmt.limit(cap + 1))
    cursor = run_read(db, sql, params)
    if own is None and cursor.rowcount > cap:
        cursor.close()
        return None
    return _pages(cursor, page)


def small_sql(
    db: Database, sql: str, params: Sequence[Any] | Mapping[str, Any], page: int, *, generic: bool = False
) -> Iterator[list[tuple[Any, ...]]] | None:
    """`small_select` for SQL text compiled earlier for this database (a query plan); ``generic``: `run_read`."""
    cap = db.small_rows
    if _OWN_LIMIT.search(sql):  # a LIMIT of its own (a parameter): the probe's goes around it
        sql = f"SELECT * FROM ({sql}) AS small_probe LIMIT {cap + 1}"
    else:
        sql = f"{sql} LIMIT {cap + 1}"
    cursor = run_read(db, sql, params, generic=generic)
    if cursor.rowcount > cap:
        cursor.close()
        return None
    return _pages(cursor, page)


def read_all(db: Database, stmt: Any, params: Mapping[str, Any] | None = None) -> list[Any]:
    """Every row of a SELECT that the caller holds whole (a spatial prefilter's candidates), in one statement.

    ``params``: values of the statement's bound parameters, for a statement built once and kept (its compiled
    form is then reused).  On PostgreSQL on the driver connection (`run_read`: one round trip outside a
    transaction); on SQLite as `Database.read_rows` or `Database.stream_rows` run it.
    """
    if db.dialect == "sqlite":
        return db.read_rows(stmt, params) if params is not None else list(db.stream_rows(stmt))
    if params is None:
        sql, values = db._compile_select(stmt)
        return run_read(db, sql, values).fetchall()  # type: ignore[no-any-return]
    entry = db._compiled.get(id(stmt))  # kept as `Database.read_rows` keeps SQLite's
    if entry is None:
        compiled = stmt.compile(dialect=db.engine.dialect)
        fixed = {k: v for k, v in compiled.params.items() if v is not None}  # literals in the statement
        entry = db._compiled[id(stmt)] = (stmt, str(compiled), (), fixed)
    return run_read(db, entry[1], {**entry[3], **params}).fetchall()  # type: ignore[no-any-return]


def run_read(db: Database, sql: str, params: Sequence[Any] | Mapping[str, Any], *, generic: bool = False) -> Any:
    """Run one read statement (SQL text for this database) on PostgreSQL's driver connection; its client cursor.

    Outside a transaction it runs in autocommit (one round trip, no BEGIN and COMMIT); inside one (a caller's,
    or a write's) it joins it.  SQLAlchemy's ``before_cursor_execute`` and ``after_cursor_execute`` listeners of
    the connection are called as if SQLAlchemy had run it (statement counters, logging).  A driver error
    becomes what SQLAlchemy's would have: inside a transaction its `sqlalchemy.exc.DBAPIError` (the
    transaction rolls back and reports it), outside one our `StorageError`; a connection found broken is
    dropped, and the next call reconnects.

    ``generic``: the statement runs on PostgreSQL's generic plan once psycopg has prepared it: outside a
    transaction on the connection kept for that (`_pg_generic`), inside one with the setting around it
    (`_generic`).
    """
    import psycopg

    raw = db._driver()
    if generic and not db._depth:
        from skybutler.registry._pg_generic import close_generic, generic_connection

        try:
            own = generic_connection(db)
        except psycopg.Error as exc:
            raise StorageError(
                f"Cannot open a second connection to the registry database ({str(exc).strip()}); nothing was "
                "read. Check that the server accepts one more connection, then retry."
            ) from exc
        return _traced(db, own, sql, params, own.execute, lambda: close_generic(db))
    with single_statement_read(db):
        if not db._depth and not raw.autocommit:  # not idle outside our transactions: let SQLAlchemy handle it
            with db.transaction(write=False) as conn:
                return conn.exec_driver_sql(sql, params)
        run = (lambda q, p: _generic(raw, q, p)) if generic else raw.execute
        return _traced(db, raw, sql, params, run, db.conn.invalidate)


def _traced(db: Database, raw: Any, sql: str, params: Any, run: Any, drop: Any) -> Any:
    """``run(sql, params)`` on the driver connection ``raw``, seen by SQLAlchemy's cursor listeners of the
    registry's connection; errors as `run_read` says (``drop()`` forgets a connection found broken)."""
    import psycopg

    conn = db.conn
    events = conn._has_events or conn.engine._has_events  # SQLAlchemy's listeners see this statement too
    try:
        if events:
            for fn in conn.dispatch.before_cursor_execute:
                sql, params = fn(conn, None, sql, params, None, False)
        cursor = run(sql, params)
        if events:
            for fn in conn.dispatch.after_cursor_execute:
                fn(conn, cursor, sql, params, None, False)
        return cursor
    except psycopg.Error as exc:
        lost = raw.closed or raw.broken
        if lost:
            drop()
        if db._depth:
            raise sa.exc.DBAPIError.instance(sql, params, exc, psycopg.Error, connection_invalidated=lost) from exc
        if lost:
            raise StorageError(
                f"The connection to the registry database was lost ({str(exc).strip()}); nothing was changed. "
                "The next call reconnects: retry the operation."
            ) from exc
        raise db.failure(exc, "could not be read") from exc


def _generic(raw: Any, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> Any:
    """Run ``sql`` with ``plan_cache_mode = force_generic_plan``, in one round trip (a pipeline of three).

    For a spatial query's plan (`skybutler.query._spatial_plan`), whose keys are arrays: PostgreSQL estimates
    an array parameter of unknown length at ten values a column, so its generic plan looks dearer than a
    custom one and it would plan each call anew (3 to 4 ms of server CPU at load 10, for a plan that is the
    same).  The setting is the session's, so it is reset after the statement (a failure resets it too).
    """
    try:
        with raw.pipeline():
            raw.execute("SET plan_cache_mode = force_generic_plan")
            cursor = raw.execute(sql, params)
            raw.execute("RESET plan_cache_mode")
    except Exception:
        if not (raw.closed or raw.broken):
            with contextlib.suppress(Exception):
                raw.execute("RESET plan_cache_mode")
        raise
    return cursor


def _pages(cursor: Any, page: int) -> Iterator[list[tuple[Any, ...]]]:
    try:
        while rows := cursor.fetchmany(page):
            yield rows
    finally:
        cursor.close()


def stream_select(db: Database, stmt: Any, page: int) -> Iterator[tuple[Any, ...]]:
    """The rows of ``stmt`` through SQLAlchemy (`Database.stream_rows` on PostgreSQL, or inside a SQLite write
    transaction): one statement if the result is small (PostgreSQL), else a cursor that fetches page by page."""
    small = small_select(db, stmt, page) if db.dialect == "postgresql" else None
    if small is not None:
        for rows in small:
            yield from rows
        return
    # The option goes on the statement: on the connection it would stick (server-side cursors for all).
    with db.transaction(write=False) as conn:
        result = conn.execute(stmt.execution_options(yield_per=page))
        try:
            for row in result:
                yield tuple(row)
        finally:
            result.close()


def stream_text(
    db: Database, sql: str, params: Sequence[Any] | Mapping[str, Any], page: int, *, generic: bool = False
) -> Iterator[list[tuple[Any, ...]]]:
    """Pages of the rows of PostgreSQL SQL text (`Database.stream_sql`): one statement if the result is small,
    else a server-side cursor.  ``generic``: see `run_read`."""
    small = small_sql(db, sql, params, page, generic=generic)
    if small is not None:
        yield from small
        return
    with db.transaction(write=False) as conn:
        result = conn.exec_driver_sql(sql, params, execution_options={"yield_per": page})
        try:
            for rows in result.partitions(page):
                yield [tuple(r) for r in rows]
        finally:
            result.close()


def _own_limit(stmt: Any) -> int | None:
    """The LIMIT ``stmt`` was given (None without one; -1 when it is an expression, not a number)."""
    if getattr(stmt, "_limit_clause", None) is None:
        return None
    try:
        value = stmt._limit
    except Exception:  # an expression: SQLAlchemy cannot say its value
        return -1
    return int(value) if value is not None else None
