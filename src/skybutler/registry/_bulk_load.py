"""Bulk inserts into SQLite tables: a larger page cache, and an empty table's lookup indexes built afterwards.

A tags table has four indexes besides its rows (the primary key, the data-ID uniqueness rule, the data-ID
lookup index and the lookup index of `tags_lookup_indexes`).  Inserted in dataset-ID order, rows reach
three of them in random order: with SQLite's default page cache (2 MB) a 100 000-dataset import then spends
most of its time moving index pages between the cache and the operating system.  Two remedies:

* a bulk insert runs with a page cache of `CACHE_KIB` (restored after; SQLite frees the pages then);
* when the table is empty, its plain lookup indexes (made by ``CREATE INDEX``, not unique) are dropped
  before the insert and made again after it, with the same SQL, in the same transaction: SQLite builds an
  index from sorted rows several times faster than it fills one row by row.  Uniqueness rules and the keys
  foreign keys name stay in place, so every row is checked as before.  DDL is transactional in SQLite: a
  rolled-back transaction (or savepoint) restores the indexes as they were, and a failed insert makes them
  again before the error leaves, for a caller that goes on in the same transaction.

A 100 000-dataset tags insert took ~3 s CPU with the indexes filled row by row and the default cache, ~1.5 s
this way (benchmarks/RESULTS.md, "Session 10: import speed").  PostgreSQL loads by ``COPY`` and is left alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["CACHE_KIB", "DEFER_INDEXES_ROWS", "bulk_load"]

CACHE_KIB = 128 * 1024
"""Page cache of a SQLite connection during a bulk insert, in KiB (SQLite's default is 2 MiB)."""
DEFER_INDEXES_ROWS = 10_000
"""Rows from which an insert into an empty table builds its lookup indexes after the rows."""


def _deferrable_indexes(raw: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """``(name, CREATE INDEX sql)`` of ``table``'s plain indexes: made by CREATE INDEX, not unique, not partial."""
    out = []
    for row in raw.execute(f'PRAGMA index_list("{table}")').fetchall():
        name, unique, origin, partial = row[1], row[2], row[3], row[4]
        if unique or origin != "c" or partial:
            continue
        found = raw.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)).fetchall()
        if found and found[0][0]:
            out.append((name, found[0][0]))
    return sorted(out)


@contextmanager
def bulk_load(driver: Any, tables: list[str], rows: int) -> Iterator[None]:
    """Around an insert of ``rows`` rows into ``tables`` on a SQLite driver connection, in a transaction.

    Raises the page cache to `CACHE_KIB` for the block (when it is smaller); from `DEFER_INDEXES_ROWS` rows,
    each of ``tables`` that is empty has its plain lookup indexes dropped for the block and made again after
    it, whether the block succeeds or raises.
    """
    raw: sqlite3.Connection = driver
    if rows < DEFER_INDEXES_ROWS:
        yield
        return
    ((cache,),) = raw.execute("PRAGMA cache_size").fetchall()
    ((page,),) = raw.execute("PRAGMA page_size").fetchall()
    kib = -cache if cache < 0 else cache * page // 1024
    if kib < CACHE_KIB:
        raw.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    dropped: list[tuple[str, str]] = []
    try:
        for table in tables:
            if not raw.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchall():
                for name, sql in _deferrable_indexes(raw, table):
                    raw.execute(f'DROP INDEX "{name}"')
                    dropped.append((name, sql))
        yield
    finally:
        try:
            for _, sql in dropped:
                raw.execute(sql)
        finally:
            if kib < CACHE_KIB:
                raw.execute(f"PRAGMA cache_size = {cache}")
