"""PostgreSQL reads of one statement in one round trip: no BEGIN and COMMIT around them.

A single SELECT sees one consistent snapshot by itself. Run in a transaction of its own it cost three round trips
(psycopg sends BEGIN before it and COMMIT after), which made every find, get and miss on PostgreSQL about three
times the statement's own cost (issue 26 part 2). In psycopg's autocommit mode it sends the SELECT alone.
Autocommit is a client-side setting of the connection, allowed only while no transaction is open: inside one
(the caller's, or a write's) the read joins it as before. Reads of several statements keep their transaction.
A write of one statement (an ``INSERT ... RETURNING``) is atomic by itself too, and goes the same way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from skybutler.registry._engines import Database

__all__ = ["autocommit_while_idle", "one_row", "single_statement_read"]

_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE (psycopg itself is imported only by PostgreSQL registries)


@contextmanager
def single_statement_read(db: Database) -> Iterator[None]:
    """Around the one statement of a read: on PostgreSQL outside any transaction, in autocommit mode."""
    if db.dialect != "postgresql" or db._depth:
        yield
        return
    with autocommit_while_idle(db._driver()):
        yield


@contextmanager
def autocommit_while_idle(raw: Any, *, on_failure: Callable[[], object] | None = None) -> Iterator[None]:
    """psycopg's autocommit mode for the block when the driver connection ``raw`` (None: nothing to do) has no
    transaction open; turned off again after it.  If turning it off fails (a broken connection), ``on_failure``
    runs; SQLAlchemy replaces such a connection at the next call either way."""
    if raw is None or raw.info.transaction_status != _IDLE:
        yield
        return
    raw.autocommit = True
    try:
        yield
    finally:
        try:
            raw.autocommit = False
        except Exception:
            if on_failure is not None:
                on_failure()


def one_row(db: Database, sql: str, params: Mapping[str, Any], *, write: bool = False) -> tuple[Any, ...] | None:
    """The first row of one statement of SQL text: a SELECT, or an ``INSERT ... RETURNING`` (``write``).

    The text is the same for both databases (named ``:parameters``, SQL both speak, ``ON CONFLICT ... DO
    NOTHING`` included): there is no SQLAlchemy statement to build, nor to compile on a process's first
    call (0.5-1 ms each, most of a first dataset-type or collection registration).  One statement is
    atomic and sees one snapshot by itself.  On SQLite it runs on the driver connection: inside the
    transaction in progress, else alone in autocommit mode (a write waits for the lock on the busy
    timeout, as ``BEGIN IMMEDIATE`` does).  On PostgreSQL it runs through SQLAlchemy in one round trip
    (`single_statement_read`).  Values come back as the driver returns them (booleans as 0 or 1 on
    SQLite).  A refused row raises `sqlalchemy.exc.IntegrityError`; other driver errors `StorageError`.
    """
    if db.dialect != "sqlite":
        with single_statement_read(db), db.transaction(write=write) as conn:
            found = conn.execute(sa.text(sql), dict(params)).first()
        return None if found is None else tuple(found)
    raw = db._driver()
    try:
        rows = raw.execute(sql, params).fetchall()  # all: the statement ends (and, alone, commits) here
    except sqlite3.IntegrityError as exc:
        raise sa.exc.IntegrityError(sql, None, exc) from None
    except sqlite3.DatabaseError as exc:
        raise db.failure(exc, "refused or failed a statement" if write else "could not be read") from None
    return tuple(rows[0]) if rows else None
