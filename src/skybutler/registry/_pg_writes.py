"""PostgreSQL writes in the fewest round trips: small inserts as INSERTs, a small transaction in one pipeline.

Every statement sent on its own waits for the server's answer: a round trip, which costs more than the
statement itself for the few rows of a put.  ``COPY`` is the fastest way to send many rows, but it takes two
round trips (the server answers the ``COPY`` before taking the data) and more server work than an ``INSERT``
for one row; so batches of fewer than `COPY_ROWS` rows go as an ``executemany`` of one ``INSERT`` (psycopg
sends all its rows in one round trip).  A transaction of such inserts alone (a put) goes as one pipeline
(`one_round_trip`): ``BEGIN``, the inserts and ``COMMIT`` are sent together, followed by one ``Sync``, and
read back together.  It is still one transaction, all-or-nothing: after a failed statement the server skips
everything up to the ``Sync`` (the ``COMMIT`` too) and the transaction is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.errors import StorageError
from skybutler.registry._single_reads import autocommit_while_idle

if TYPE_CHECKING:
    from skybutler.registry._engines import Database

__all__ = [
    "COPY_ROWS",
    "PIPELINE_ROWS",
    "advisory_key",
    "commit_with_inserts",
    "defer_insert",
    "insert_rows",
    "lock_and_read",
    "one_round_trip",
    "own_begin",
    "queue_insert",
]

COPY_ROWS = 100
"""Rows from which a PostgreSQL bulk insert goes by ``COPY`` (two round trips) instead of one ``INSERT``."""
PIPELINE_ROWS = 100
"""Datasets up to which a put is registered in one pipelined round trip (`one_round_trip`)."""
_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE
_INTRANS = 2  # psycopg.pq.TransactionStatus.INTRANS: in a transaction, idle between statements


def advisory_key(name: str) -> int:
    """The key of PostgreSQL's advisory lock for ``name`` (`Database.lock`): a 64-bit hash of it."""
    import hashlib

    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def insert_rows(
    conn: sa.Connection, table: sa.TableClause, columns: Sequence[str], rows: Iterable[tuple[Any, ...]], pipeline: Any
) -> int:
    """INSERT ``rows`` on PostgreSQL and return how many: queued on ``pipeline`` (a cursor), or by INSERT or
    COPY by their number (rows that are not a list, e.g. a generator, go by COPY as they are made)."""
    import psycopg

    names = ", ".join('"' + c + '"' for c in columns)
    raw: Any = conn.connection.driver_connection
    few = pipeline is not None or (isinstance(rows, list) and len(rows) < COPY_ROWS)
    if few:
        sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join(["%s"] * len(columns))})'
    else:
        sql = f'COPY "{table.name}" ({names}) FROM STDIN'
    n = 0
    try:
        if few:
            listed = rows if isinstance(rows, list) else list(rows)
            n = len(listed)
            if pipeline is not None:
                pipeline.executemany(sql, listed)  # sent, and answered, with the rest of the pipeline
            else:
                with raw.cursor() as cursor:
                    cursor.executemany(sql, listed)
        else:
            with raw.cursor() as cursor, cursor.copy(sql) as copy:
                for n, row in enumerate(rows, 1):  # noqa: B007 (n counts the rows)
                    copy.write_row(row)
        return n
    except psycopg.errors.IntegrityError as exc:
        raise sa.exc.IntegrityError(sql, None, exc) from None
    except psycopg.Error as exc:
        raise _wrapped(conn, raw, sql, exc) from None


def queue_insert(conn: sa.Connection, pipeline: Any, stmt: Any, row: dict[str, Any]) -> None:
    """Run the SQLAlchemy INSERT ``stmt`` with ``row``: queued on ``pipeline`` (a pipelined transaction's
    cursor, `one_round_trip`) if there is one, else at once through ``conn``."""
    if pipeline is None:
        conn.execute(stmt, [row])
        return
    compiled = stmt.values(**row).compile(dialect=conn.dialect)
    pipeline.execute(str(compiled), compiled.params)


@contextmanager
def own_begin(db: Database) -> Iterator[None]:
    """Around a PostgreSQL transaction whose first statements go in one pipeline with their ``BEGIN``
    (`lock_and_read`): psycopg's own ``BEGIN`` would be a round trip of its own, so the connection runs in
    autocommit mode for the block and `lock_and_read` sends ``BEGIN`` itself; SQLAlchemy's commit or rollback
    at the transaction's end still ends it (psycopg sends them whenever a transaction is open).  Outside a
    PostgreSQL transaction only; elsewhere it does nothing."""
    raw: Any = db._driver() if db.dialect == "postgresql" and not db._depth and db._pipeline is None else None
    with autocommit_while_idle(raw, on_failure=db.conn.invalidate):  # the transaction has ended by its exit
        yield


def lock_and_read(
    db: Database, conn: sa.Connection, lock: str, stmt: Any, params: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """At the start of a PostgreSQL transaction opened in `own_begin`: ``BEGIN``, the advisory lock ``lock``
    (`Database.lock`) and the SELECT ``stmt`` with ``params`` in one round trip; its rows as mappings.  None
    where that does not apply (SQLite, no `own_begin`, a transaction already under way): the caller then locks
    and reads as usual.

    The server still runs the statements one after the other: the SELECT starts, and takes its snapshot,
    once the lock is granted, so it sees what the lock's previous holder committed.
    """
    if db.dialect != "postgresql" or db._pipeline is not None:
        return None
    import psycopg

    raw: Any = conn.connection.driver_connection
    if not raw.autocommit or raw.info.transaction_status != _IDLE:
        return None
    compiled = _COMPILED.get(id(stmt))
    if compiled is None or compiled[0] is not stmt:
        compiled = _COMPILED[id(stmt)] = (stmt, stmt.compile(dialect=conn.dialect))
    state = compiled[1].construct_expanded_state(params)  # IN lists rendered, with their values
    try:
        with raw.pipeline():
            raw.execute("BEGIN", prepare=False)
            raw.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_key(lock)])
            cursor = raw.execute(state.statement, state.parameters)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    except psycopg.Error as exc:
        raise _wrapped(conn, raw, state.statement, exc) from None


def defer_insert(db: Database, table: sa.Table, rows: list[dict[str, Any]]) -> bool:
    """Queue the INSERT of ``rows`` to go with the ``COMMIT`` of the transaction under way (`commit_with_inserts`),
    where that saves a round trip: a PostgreSQL transaction opened in `own_begin`, which psycopg would otherwise
    commit with a round trip of its own.  False where it does not apply (the caller inserts at once).

    The caller must not read the rows later in the transaction: they reach the server only at its end.
    """
    if db.dialect != "postgresql" or db._pipeline is not None or not db._depth or not rows:
        return False
    raw: Any = db._driver()
    keys = rows[0].keys()
    if not raw.autocommit or raw.info.transaction_status != _INTRANS or any(r.keys() != keys for r in rows):
        return False
    names = ", ".join(f'"{k}"' for k in keys)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join(["%s"] * len(keys))})'
    db._at_commit.append((sql, [tuple(r[k] for k in keys) for r in rows]))
    return True


def commit_with_inserts(db: Database) -> None:
    """Send the inserts `defer_insert` queued and ``COMMIT`` in one pipeline: one round trip.

    Errors come as SQLAlchemy's (an integrity error as `sqlalchemy.exc.IntegrityError`), for
    `Database.transaction`'s handling of a failed commit; nothing was committed then, but for a connection lost
    after the ``COMMIT`` was sent.
    """
    import psycopg

    raw: Any = db._driver()
    queued, db._at_commit = db._at_commit, []
    sql = "COMMIT"
    try:
        with raw.pipeline(), raw.cursor() as cursor:
            for sql, rows in queued:  # (``sql``, the last one sent, names the statement in an error)
                cursor.executemany(sql, rows)
            cursor.execute("COMMIT", prepare=False)
    except psycopg.errors.IntegrityError as exc:
        raise sa.exc.IntegrityError(sql, None, exc) from None
    except psycopg.Error as exc:
        raise _wrapped(db.conn, raw, sql, exc) from None


_COMPILED: dict[int, tuple[Any, Any]] = {}
"""`lock_and_read`'s statements compiled, by identity (each kept with its statement, so an id is not reused)."""


def _wrapped(conn: sa.Connection, raw: Any, sql: str, exc: Exception) -> sa.exc.StatementError:
    """psycopg's own error, which SQLAlchemy never saw, wrapped as SQLAlchemy would (a lost connection is
    invalidated, so the next call reconnects)."""
    import psycopg

    lost = conn.dialect.is_disconnect(exc, raw, None)  # type: ignore[arg-type]
    if lost:
        conn.invalidate(exc)
    return sa.exc.DBAPIError.instance(sql, None, exc, psycopg.Error, connection_invalidated=lost, dialect=conn.dialect)


@contextmanager
def one_round_trip(db: Database) -> Iterator[sa.Connection]:
    """A PostgreSQL write transaction of inserts only (`Database.insert_many`), sent in one round trip.

    For `Database.transaction` (``pipelined=True``), outside any other transaction.  The block's inserts are
    queued in a psycopg pipeline between ``BEGIN`` and ``COMMIT``, and everything is sent and answered at the
    pipeline's end; the block must not read (nothing is answered until then).  Errors arrive at that end:
    a refused row raises `sqlalchemy.exc.IntegrityError` (for callers that explain it), after the transaction
    was rolled back; a lost connection raises `LostCommitError` (the ``COMMIT`` was sent with the rest, so it
    may have been saved); any other driver error a `StorageError`, nothing changed.
    """
    import psycopg

    from skybutler.registry._engines import LostCommitError

    raw = db._driver()
    conn = db.conn
    raw.autocommit = True  # psycopg sends no BEGIN of its own (with a round trip of its own): ours is queued
    db._bulk.clear()
    db._depth = 1
    try:
        with raw.pipeline(), raw.cursor() as cursor:
            db._pipeline = cursor
            cursor.execute("BEGIN", prepare=False)  # (psycopg would prepare them after a few uses: no gain)
            yield conn
            cursor.execute("COMMIT", prepare=False)
    except psycopg.Error as exc:
        lost = conn.dialect.is_disconnect(exc, raw, None)  # type: ignore[arg-type]
        if lost:
            conn.invalidate(exc)
            raise LostCommitError(
                f"The connection to the registry database was lost while committing "
                f"({str(exc).strip().splitlines()[0]}): the change may or may not have been saved. "
                "The next call reconnects: look before you retry."
            ) from exc
        _rollback(conn, raw)
        if isinstance(exc, psycopg.errors.IntegrityError):
            raise sa.exc.IntegrityError("INSERT", None, exc) from None
        raise db.failure(exc, "refused or failed a statement, and the change was rolled back") from exc
    except BaseException as exc:
        _rollback(conn, raw)  # the block failed: what the pipeline's end ran is undone
        if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:  # lost before COMMIT was queued
            raise StorageError(  # the driver's first line: libpq may add lines of guesses
                f"The connection to the registry database was lost ({str(exc.orig).strip().splitlines()[0]}); "
                "nothing was changed. "
                "The next call reconnects: retry the operation."
            ) from exc
        raise
    finally:
        db._depth = 0
        db._pipeline = None
        if not conn.invalidated:
            try:
                raw.autocommit = False
            except psycopg.Error:  # a broken connection: SQLAlchemy replaces it at the next call
                conn.invalidate()
    db._after_commit(False)


def _rollback(conn: sa.Connection, raw: Any) -> None:
    """End a transaction the pipeline left open (a refused statement leaves it aborted, until ROLLBACK)."""
    import psycopg

    if conn.invalidated:
        return
    try:
        if raw.info.transaction_status != _IDLE:
            raw.execute("ROLLBACK")
    except psycopg.Error as exc:
        conn.invalidate(exc)
        raise StorageError(f"The registry database could not roll back a failed write ({exc}).") from None
