"""The SQLite ``INSERT`` text of a table and column list, made once per pair.

`Database.insert_many` runs for every put (three tables, one row each): rendering the statement and
looking its columns' types up in SQLAlchemy's column collection cost more than the driver's
``executemany`` of the row itself (issue 26, W1's put steps).  Tables and column lists are few, so each
pair's text is kept for the life of the process.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

__all__ = ["sqlite_insert"]

_MADE: dict[tuple[str, tuple[str, ...], bool], tuple[str, tuple[int, ...]]] = {}


def sqlite_insert(table: sa.TableClause, columns: Sequence[str]) -> tuple[str, tuple[int, ...]]:
    """The ``INSERT`` statement of ``columns`` into ``table`` with ``?`` placeholders, and the positions of
    its UUID columns (SQLite stores them as hex text, `Database.id_values`).

    Kept by table name, not object: dimension records are inserted through a `sqlalchemy.table` made per call
    (its columns untyped: no UUIDs there), a dataset's tables through their `sqlalchemy.Table` (typed)."""
    key = (table.name, tuple(columns), isinstance(table, sa.Table))
    found = _MADE.get(key)
    if found is None:
        names = ", ".join('"' + c + '"' for c in columns)
        sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * len(columns))})'
        uuids = tuple(k for k, c in enumerate(columns) if isinstance(table.c[c].type, sa.Uuid))
        if len(_MADE) >= 4096:  # tables made per dataset type: bounded all the same
            _MADE.clear()
        found = _MADE[key] = (sql, uuids)
    return found
