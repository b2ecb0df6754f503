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

import tempfile
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


@contextmanager
def round_trips(db: Database) -> Iterator[list[str]]:
    """Within the block, on PostgreSQL, the round trips to the server as the wire protocol shows them.

    libpq's trace of the connection is read back: every batch the server answers ends with one
    ``ReadyForQuery`` message (after a simple query, or after the ``Sync`` that ends an extended-protocol
    statement or a whole pipeline), so their number is the number of times the client waited for the server,
    whatever path (SQLAlchemy, psycopg's own cursors, a pipeline) sent the statements.  The list holds, per
    round trip, the statements it carried (``Parse``/``Query`` texts; a prepared statement's Bind shows as
    its name).
    """
    import psycopg

    # the registry's connection, and the one kept for generic plans if it is open (`_pg_generic`): the
    # client waits for one server at a time, so their traces add up
    raws: list[Any] = [db._driver()] + ([db._generic.driver_connection] if db._generic is not None else [])
    with tempfile.TemporaryFile("w+") as trace:
        for raw in raws:
            raw.pgconn.trace(trace.fileno())
            raw.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        trips: list[str] = []
        try:
            yield trips
        finally:
            for raw in raws:
                raw.pgconn.untrace()
            trace.seek(0)
            carried: list[str] = []
            for line in trace.read().splitlines():
                parts = line.split("\t")
                if len(parts) < 4:
                    continue
                text = parts[3].strip()  # e.g. Query: "SQL"; Parse: "name" "SQL" n; Bind: "portal" "name" ...
                if parts[0] == "F" and parts[2] == "Query":
                    carried.append(text[1:-1][:80])
                elif parts[0] == "F" and parts[2] == "Parse" and text.startswith('"" '):  # unnamed: run now
                    carried.append(text[4:].rsplit('" ', 1)[0][:80])
                elif parts[0] == "F" and parts[2] == "Bind" and not text.startswith('"" ""'):  # prepared
                    carried.append(text.split()[1].strip('"'))
                elif parts[0] == "B" and parts[2] == "ReadyForQuery":
                    trips.append("; ".join(carried))
                    carried = []
