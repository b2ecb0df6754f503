"""Count the statements a registry call sends to its database: every one is a round trip on PostgreSQL.

Statements through SQLAlchemy are seen by its ``before_cursor_execute`` event, once per call (an
``executemany`` is one call: one statement on PostgreSQL, which SQLAlchemy sends as a multi-row VALUES).
SQLite reads on the hot path run on the driver connection, past SQLAlchemy's events: on SQLite the driver's
trace callback adds those (and the COMMITs the driver sends), but not the statements SQLAlchemy runs. On
PostgreSQL the transaction boundaries are added, which psycopg sends as
statements of their own: counted as psycopg sends them (BEGIN before the first statement of a transaction,
COMMIT or ROLLBACK if one is open; neither in autocommit mode).
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

    def before(conn: sa.Connection, _cursor: object, statement: str, *_args: object) -> None:
        if db.dialect == "postgresql":
            driver: Any = conn.connection.driver_connection
            if not driver.autocommit and driver.info.transaction_status == 0:  # IDLE: psycopg sends BEGIN first
                sent.append("BEGIN")
        sent.append(statement)
        inside[0] = True

    def ending(verb: str) -> Any:
        def hook(conn: sa.Connection) -> None:
            driver: Any = conn.connection.driver_connection
            if not driver.autocommit and driver.info.transaction_status != 0:  # psycopg sends it only then
                sent.append(verb)

        return hook

    def after(*_args: object) -> None:
        inside[0] = False

    hooks: dict[str, Any] = {"before_cursor_execute": before, "after_cursor_execute": after}
    if db.dialect == "postgresql":
        hooks |= {"commit": ending("COMMIT"), "rollback": ending("ROLLBACK")}
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
