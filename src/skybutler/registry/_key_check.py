"""A SQLite bulk transaction whose foreign keys are checked once, at its end, instead of row by row.

With foreign keys on, SQLite looks up the parent row of every key of every inserted row: for an import of
100 000 datasets that is six look-ups per dataset (the ``dataset`` row's type and run, the tags row's
dataset, collection and dimension records), about a fifth of the import's SQLite time.  `PRAGMA
foreign_key_check` checks a whole database in one pass for a fraction of that.

`keys_checked_at_end` runs its block in one transaction of `Database.transaction` on a connection whose
foreign keys are off (SQLite only lets that change outside a transaction, so it is set just before
``BEGIN`` and restored after the end), and before the commit runs one ``PRAGMA foreign_key_check`` over the
whole database: a row that names a missing parent raises `ConflictError`, the transaction is rolled
back and nothing is written.  The check scans every table with foreign keys, so it is for bulk loads into a
database no larger than what they add (`worth_checking_at_end`).  Nothing else changes with foreign keys
off but ``ON DELETE`` actions; a block that deletes parent rows must not use this.

The violation names the table and the parent only (SQLite reports no more); a caller that owes its users a
precise message redoes the work in an ordinary transaction, where the first bad row fails with its own
error (`skybutler.transfer` does so for imports).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import sqlalchemy as sa

from skybutler.errors import ConflictError

if TYPE_CHECKING:
    from skybutler.registry._engines import Database

__all__ = ["keys_checked_at_end", "worth_checking_at_end"]

MIN_ROWS = 10_000
"""Datasets from which a bulk write is worth `keys_checked_at_end` (fewer: the row-by-row checks cost little)."""
BYTES_PER_ROW = 400
"""About what one dataset adds to a SQLite registry (its ``dataset``, tags and index entries), in bytes."""


def worth_checking_at_end(db: Database, rows: int) -> bool:
    """Whether a bulk write of ``rows`` datasets should use `keys_checked_at_end` on ``db``.

    True on SQLite for at least `MIN_ROWS` rows, outside any transaction, when the database holds no more
    than those rows will add (the check at the end reads the whole database).
    """
    if db.dialect != "sqlite" or rows < MIN_ROWS or db._depth:
        return False
    raw = db._driver()
    ((pages,),) = raw.execute("PRAGMA page_count").fetchall()
    ((page_size,),) = raw.execute("PRAGMA page_size").fetchall()
    return bool(pages * page_size <= rows * BYTES_PER_ROW)


@contextmanager
def keys_checked_at_end(db: Database) -> Iterator[sa.Connection]:
    """`Database.transaction` (SQLite, not nested) with foreign keys off, all checked before the commit.

    Raises
    ------
    ConflictError
        A row names a missing parent; the transaction was rolled back.
    """
    if db.dialect != "sqlite" or db._depth:
        raise AssertionError("keys_checked_at_end is for a SQLite transaction of its own")
    raw: sqlite3.Connection = db._driver()
    raw.execute("PRAGMA foreign_keys = OFF")
    try:
        with db.transaction() as conn:
            yield conn
            bad = raw.execute("PRAGMA foreign_key_check").fetchmany(1)
            if bad:
                table, _, parent, _ = bad[0]
                raise ConflictError(
                    f"A row of {table!r} names a {parent!r} row that does not exist; nothing was written."
                )
    finally:
        try:
            raw.execute("PRAGMA foreign_keys = ON")
            restored = raw.execute("PRAGMA foreign_keys").fetchall() == [(1,)]
        except sqlite3.Error:  # a connection discarded by a failure: its successor starts with keys on
            restored = True
        if not restored:  # never leave a connection without its keys: SQLAlchemy opens a new one
            db.conn.invalidate()
