"""Planner statistics the registry keeps: SQLite's ``sqlite_stat1`` for large tags tables, PostgreSQL's first
``ANALYZE``, and SQLite range estimates from dimension key bounds (see docs/concepts.md, "Registry back-ends").

**Why SQLite needs them at scale.** Without ``sqlite_stat1`` SQLite assumes every table is small and prefers a
covering index, or one whose order saves a sort, over a more selective one: at 10 M datasets ``detector = 3``
scanned every dataset of the type through the covering visit index (93 ms) instead of reading detector 3's rows
through the unique key.  `refresh_sqlite` writes the statistics of a tags table once it holds `STATS_ROWS` rows,
and again each time it has grown `GROWTH` times since, right after a bulk commit: an exact ``ANALYZE`` of that
one table, a cost that grows with it but is paid a handful of times over a table's life (RESULTS.md, session 12).
Smaller repositories keep no statistics, and the plans their tests pin.

**Why statistics are not enough for ranges.** This SQLite is built without ``STAT4``: a range (``visit <=
100``, ``detector < 10``) is estimated to keep a quarter of the rows whatever its bounds, so the planner cannot
tell a range of 1 % of the visits from one of 10 % of the detectors, and takes the index that saves the sort.
`RangeEstimates` tells it: when the registry has statistics, a `where` comparison of a dimension's integer key
with a constant is wrapped in SQLite's ``likelihood(term, p)``, ``p`` the share of the key range between the
dimension's smallest and largest recorded key that the comparison keeps.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import sqlalchemy as sa

from skybutler.errors import ConflictError, StorageError

if TYPE_CHECKING:
    from skybutler.dimensions import DimensionUniverse
    from skybutler.registry._dimensions import DimensionRecords
    from skybutler.registry._engines import Database

__all__ = ["GROWTH", "STATS_ROWS", "RangeEstimates", "analyze_new_postgres", "analyzed_rows", "refresh_sqlite"]

STATS_ROWS = 100_000
"""Rows from which a SQLite tags table gets statistics (a smaller one is planned well by SQLite's own rules)."""
GROWTH = 4
"""A SQLite tags table is analyzed again once it holds this many times the rows its statistics say."""
_TAGS = "dataset_tags_"
_MIN_P = 1e-6
_BUSY_MS = 2_000
"""How long an ``ANALYZE`` waits for another writer before it is left to the next bulk commit."""


def analyzed_rows(driver: sqlite3.Connection) -> dict[str, int]:
    """SQLite: the rows each table had when it was last analyzed, from ``sqlite_stat1`` (empty: none)."""
    if not driver.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'").fetchall():
        return {}
    out: dict[str, int] = {}
    for table, stat in driver.execute("SELECT tbl, stat FROM sqlite_stat1 WHERE idx IS NOT NULL").fetchall():
        rows = int(str(stat).split()[0])
        out[table] = max(out.get(table, 0), rows)
    return out


def refresh_sqlite(driver: sqlite3.Connection, tables: list[str]) -> list[str]:
    """SQLite, after a bulk commit into ``tables``: analyze the tags tables among them that need it; return them.

    A tags table needs statistics when it holds `STATS_ROWS` rows or more (its largest rowid: an O(log n)
    read) and has none, or holds `GROWTH` times the rows they were gathered from.  ``ANALYZE`` of one table
    reads each of its indexes whole (exact counts: ``analysis_limit`` samples an index's first rows, which
    in a tags index all share one dataset type, collection and detector) and loads the result into this
    connection; other connections see it when they next connect.  A failure (a database busy past `_BUSY_MS`)
    leaves the statistics as they were, for the next bulk commit: they only steer plans.
    """
    due = [t for t in tables if t.startswith(_TAGS)]
    if not due:
        return []
    done = []
    try:
        have = analyzed_rows(driver)
        for table in sorted(due):
            ((rows,),) = driver.execute(f'SELECT coalesce(max(rowid), 0) FROM "{table}"').fetchall()
            if rows < STATS_ROWS or (table in have and rows < GROWTH * have[table]):
                continue
            # another writer holding the lock: wait a little, not the writer's whole busy timeout
            ((busy,),) = driver.execute("PRAGMA busy_timeout").fetchall()
            driver.execute(f"PRAGMA busy_timeout = {min(busy, _BUSY_MS)}")
            try:
                driver.execute(f'ANALYZE "{table}"')
            finally:
                driver.execute(f"PRAGMA busy_timeout = {busy}")
            done.append(table)
    except sqlite3.Error:  # busy past _BUSY_MS, say: statistics only steer plans; the next bulk commit retries
        pass
    return done


def analyze_new_postgres(db: Database, tables: list[str]) -> None:
    """PostgreSQL: gather statistics of the given tables that have none yet.

    Called once per table, after the commit that takes the rows this connection inserted into it past
    `_engines._ANALYZE_ROWS` (in one bulk call or in many small ones).  A repository's tables are created
    empty and, until autovacuum's next round (a minute or more), a table without statistics is planned as
    holding one row: a query right after a first import, ingest or series of puts then joins with nested
    loops (W1's data-ID query of 2 000 rows: 100 ms in the server, 2.6 ms once the three tables are
    analyzed, which took 7 ms).  Tables analyzed once keep being planned from their current size; autovacuum
    refreshes them from then on.  Statistics only steer plans: a failure here is ignored.
    """
    try:
        with db.transaction() as conn:
            fresh = (
                conn.execute(
                    sa.text(
                        "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
                        "AND relkind = 'r' AND reltuples < 0 AND relname = ANY(:names)"
                    ),
                    {"names": tables},
                )
                .scalars()
                .all()
            )
            for name in fresh:
                conn.exec_driver_sql(f'ANALYZE "{name}"')
    except (StorageError, ConflictError, sa.exc.DBAPIError):
        return


class RangeEstimates:
    """SQLite: the share of a dimension's keys a comparison with a constant keeps, for ``likelihood()``.

    Active only on a SQLite registry with statistics for some tags table (`active`): small repositories keep
    their plans, and their queries their cached plans (a call with an estimate is not planned: its SQL
    depends on its values, `query._plans`).  Each dimension's smallest and largest key are read once per
    registry (one scan of its records table) and forgotten when this registry inserts records of it; keys
    inserted by another process since only make an estimate rougher.
    """

    def __init__(self, db: Database, records: DimensionRecords, universe: DimensionUniverse) -> None:
        self._db = db
        self._records = records
        self._universe = universe
        self._bounds: dict[str, tuple[int, int] | None] = {}
        self._active: bool | None = None

    def active(self) -> bool:
        """Whether estimates are made: SQLite, with statistics for a tags table (read once per connection)."""
        if self._active is None:
            if self._db.dialect != "sqlite":
                self._active = False
            else:
                try:
                    self._active = any(t.startswith(_TAGS) for t in analyzed_rows(self._db._driver()))
                except sqlite3.Error:
                    self._active = False
        return self._active or bool(self._db.analyzed)  # or analyzed since, through this connection

    def forget(self, element: str) -> None:
        """Records of ``element`` were inserted: read its key bounds again when next needed."""
        self._bounds.pop(element, None)

    def fraction(self, element: str, op: str, value: int) -> float | None:
        """The share of ``element``'s keys that ``key <op> value`` keeps (None: no estimate), rounded to two digits.

        Keys are taken as spread evenly between the smallest and largest recorded: a visit range of 100 of
        10 000 visits keeps 1 %, a detector range of 10 of 100 detectors 10 %.
        """
        if not self.active():
            return None
        bounds = self._bounds[element] if element in self._bounds else self._read(element)
        if bounds is None:
            return None
        lo, hi = bounds
        kept = {"<": value - lo, "<=": value - lo + 1, ">": hi - value, ">=": hi - value + 1}[op]
        share = min(1.0, max(_MIN_P, kept / (hi - lo + 1)))
        return float(f"{share:.2g}")

    def _read(self, element: str) -> tuple[int, int] | None:
        dim = self._universe[element]
        bounds: tuple[int, int] | None = None
        if dim.is_dimension and not dim.is_skypix:
            column = self._records.table(element).c[dim.primary_key.name]
            if column.type.python_type is int:
                row = self._db.read_rows(sa.select(sa.func.min(column), sa.func.max(column)), {})[0]
                if row[0] is not None and row[1] is not None and row[1] >= row[0]:
                    bounds = (int(row[0]), int(row[1]))
        self._bounds[element] = bounds
        return bounds
