"""PostgreSQL reads of several statements in one snapshot: ``REPEATABLE READ, READ ONLY`` transactions.

A read that takes more than one statement (a dataset's row, then its files' records; a lineage walk and the
refs it names) must not see a concurrent remove half-way (issue 26).  In PostgreSQL's default ``READ
COMMITTED`` each statement of a transaction takes a snapshot of its own, so a transaction alone does not give
that: a remove committed between the two statements shows in the second and not in the first.  A ``REPEATABLE
READ`` transaction takes one snapshot at its first statement, for all of them; ``READ ONLY`` makes it one that
can never fail to serialize (only writes can), and refuses a write made by mistake in a read.  psycopg sends
the level with its ``BEGIN``: no round trip is added.  Single-statement reads run outside any transaction
(`single_statement_read`) and are not affected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skybutler.registry._engines import Database

__all__ = ["read_snapshot"]

_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE


@contextlib.contextmanager
def read_snapshot(db: Database) -> Iterator[None]:
    """Around a read transaction on PostgreSQL: its statements share one snapshot (see the module)."""
    if db.conn.invalidated:  # lost: the transaction's own start reconnects, and reports a failure as ours
        yield
        return
    raw = db._driver()
    if raw.autocommit or raw.info.transaction_status != _IDLE:  # a single-statement read, or already in one
        yield
        return
    from psycopg import IsolationLevel

    raw.isolation_level = IsolationLevel.REPEATABLE_READ
    raw.read_only = True
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a connection lost meanwhile: SQLAlchemy replaces it
            raw.isolation_level = None
            raw.read_only = None
