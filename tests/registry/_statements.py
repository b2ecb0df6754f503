"""Count the statements a registry call sends to its database: every one is a round trip on PostgreSQL.

Statements through SQLAlchemy are seen by its ``before_cursor_execute`` event, once per call (an
``executemany`` is one call: one statement on PostgreSQL, which SQLAlchemy sends as a multi-row VALUES).
SQLite reads on the hot path run on the driver connection, past SQLAlchemy's events: on SQLite the driver's
trace callback adds those (and the COMMITs the driver sends), but not the statements SQLAlchemy runs. On
PostgreSQL the ``begin``/``commit``/``rollback`` events add the transaction boundaries, which psycopg sends as
statements of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from skybutler.registry._engines import Database


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Within the block, the statements ``db`` sends, in order (BEGIN/COMMIT/ROLLBACK included)."""
    sent: list[str] = []
    inside = [False]  # a SQLAlchemy call is running: the driver's trace of it is not counted again

    def before(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)
        inside[0] = True

    def after(*_args: object) -> None:
        inside[0] = False

    hooks: dict[str, Any] = {"before_cursor_execute": before, "after_cursor_execute": after}
    if db.dialect == "postgresql":
        hooks |= {
            "begin": lambda _conn: sent.append("BEGIN"),
            "commit": lambda _conn: sent.append("COMMIT"),
            "rollback": lambda _conn: sent.append("ROLLBACK"),
        }
    for name, hook in hooks.items():
        sa.event.listen(db.engine, name, hook)
    driver = db._driver() if db.dialect == "sqlite" else None
    if driver is not None:
        driver.set_trace_callback(lambda statement: None if inside[0] else sent.append(statement))
    try:
        yield sent
    finally:
        for name, hook in hooks.items():
            sa.event.remove(db.engine, name, hook)
        if driver is not None:
            driver.set_trace_callback(None)
