"""A second PostgreSQL connection, for the statements of spatial query plans, that plans them generically.

A spatial plan's statement (`skybutler.query._spatial_plan`) takes its keys as array parameters.  PostgreSQL
estimates an array of unknown length at ten values a column, so the generic plan of such a statement looks
dearer than a custom one and, left to itself, the server plans every call anew (3 to 4 ms of its CPU at load 10)
for a plan that comes out the same.  ``plan_cache_mode = force_generic_plan`` stops that, but it is a setting
of the session: on the registry's own connection it had to be set and reset around each statement (a pipeline
of three, a third of a planned POINT query's time, issue 22), or every other statement would be planned
generically too, where a custom plan can matter (a range over skewed values).

So, outside a transaction, these statements run on a connection of their own that keeps the setting: opened
at the first such statement (one connect and one ``SET``), autocommit (each statement its own snapshot, as a
single-statement read on the main connection), closed with the registry.  Inside a transaction the statement
must see the transaction's snapshot, so it runs there, the setting set and reset around it (`_small_reads`).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skybutler.registry._engines import Database

__all__ = ["close_generic", "generic_connection"]


def generic_connection(db: Database) -> Any:
    """The psycopg connection of ``db`` that plans generically, opened (or reopened after a loss) on demand."""
    held = db._generic
    if held is not None:
        kept: Any = held.driver_connection
        if not (kept.closed or kept.broken):
            return kept
        close_generic(db)
    held = db.engine.raw_connection()  # the engine's start-up options (schema, lock timeout) apply
    try:
        raw: Any = held.driver_connection
        raw.autocommit = True
        raw.execute("SET plan_cache_mode = force_generic_plan")
    except BaseException:
        with contextlib.suppress(Exception):
            held.close()
        raise
    db._generic = held
    return raw


def close_generic(db: Database) -> None:
    """Close the generic-plan connection if there is one (the registry closes, or the connection was lost)."""
    held, db._generic = db._generic, None
    if held is not None:
        with contextlib.suppress(Exception):  # a lost connection may fail to close: it is gone either way
            held.close()
