"""A new PostgreSQL registry in one round trip: its schema, tables, indexes and first rows in one pipeline.

Creating a registry took eleven round trips on PostgreSQL: the schema in a transaction of its own, a look for
an existing registry, the tables, the version stamp and the attributes each waited for the server.  Here they
are all queued in one psycopg pipeline between ``BEGIN`` and ``COMMIT`` (`one_round_trip`): PostgreSQL's DDL
is transactional, so a failure anywhere leaves nothing, not even the schema.  The look for an existing
registry is the ``CREATE TABLE`` itself: in a schema that already holds the registry's tables it is refused
(``duplicate_table``) and the whole transaction with it, which is reported as the `ConflictError` the look
gave.  The statements are SQLAlchemy's own DDL for the tables, as on SQLite (`_create_tables`), so the schema is
the one ``metadata.create_all`` makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.errors import ConflictError, StorageError
from skybutler.registry._pg_writes import advisory_key, one_round_trip

if TYPE_CHECKING:
    from skybutler.registry._engines import Database

__all__ = ["create_and_insert", "create_in_one_round_trip"]


def create_in_one_round_trip(
    db: Database, tables: Sequence[sa.Table], inserts: Sequence[tuple[sa.Table, list[tuple[str, ...]]]], where: str
) -> None:
    """Create ``db``'s schema (if it has one), ``tables`` with their indexes and the ``inserts``' rows at once.

    ``inserts``: per table, its rows as tuples in the table's column order.  ``where`` names the registry
    in the error.

    Raises
    ------
    ConflictError
        The database (or schema) already holds a registry's tables; nothing was changed.
    StorageError
        The server refused or failed a statement; nothing was changed.
    """
    import psycopg

    dialect = db.engine.dialect
    ddl: list[str] = []
    for table in tables:
        ddl.append(str(sa.schema.CreateTable(table).compile(dialect=dialect)).strip())
        ddl += [str(sa.schema.CreateIndex(index).compile(dialect=dialect)).strip() for index in table.indexes]
    try:
        with one_round_trip(db):
            cursor = db._pipeline
            if db.schema is not None:
                cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"')
            for statement in ddl:
                cursor.execute(statement)
            for table, rows in inserts:
                names = ", ".join(f'"{c.name}"' for c in table.columns)
                marks = ", ".join(["%s"] * len(table.columns))
                cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)
    except StorageError as exc:
        if isinstance(exc.__cause__, psycopg.errors.DuplicateTable):
            raise ConflictError(
                f"A registry already exists at {where} ({exc.__cause__.diag.message_primary}); "
                "open it instead, or choose another location."
            ) from None
        raise


def create_and_insert(db: Database, lock: str, tables: Sequence[sa.Table], insert: Any) -> tuple[Any, ...] | None:
    """Under the advisory lock ``lock``: create ``tables`` (and indexes) if missing, then run ``insert``, at once.

    For a new dataset type (its tags table, maybe its calibrations table, then its row): the lock, the
    ``CREATE ... IF NOT EXISTS`` statements, the ``INSERT ... RETURNING`` and the transaction's ends go in one
    pipeline (`one_round_trip`), one round trip instead of eight.  Returns the insert's first row (None if it
    inserted none: ``ON CONFLICT DO NOTHING``).  A failure leaves nothing (PostgreSQL's DDL is transactional).
    """
    dialect = db.engine.dialect
    ddl: list[str] = []
    for table in tables:
        ddl.append(str(sa.schema.CreateTable(table, if_not_exists=True).compile(dialect=dialect)).strip())
        ddl += [
            str(sa.schema.CreateIndex(index, if_not_exists=True).compile(dialect=dialect)).strip()
            for index in table.indexes
        ]
    compiled = insert.compile(dialect=dialect)
    returned = db._driver().cursor()  # a cursor of its own (COMMIT's result would replace the row), read after
    try:
        with one_round_trip(db):
            cursor = db._pipeline
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_key(lock)])
            for statement in ddl:
                cursor.execute(statement)
            returned.execute(str(compiled), compiled.params)
        row: tuple[Any, ...] | None = returned.fetchone()  # fetched inside, it would cost a round trip of its own
    finally:
        returned.close()
    return row
