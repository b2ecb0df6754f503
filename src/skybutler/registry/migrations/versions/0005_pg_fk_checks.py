"""Foreign keys that PostgreSQL checks quickly in bulk: fewer per tags row, none plannable on an alternate key.

Revision ID: 0005_pg_fk_checks
Revises: 0004_datastore_name

PostgreSQL checks each foreign key of each inserted row with one query, and those checks were most of an
import's time.  This revision changes three things, with the same guarantees:

* ``dataset`` gets a unique index on ``(id, dataset_type_id)``, and each tags table's two keys to
  ``dataset(id)`` and ``dataset_type`` become one key to ``dataset(id, dataset_type_id)`` (still cascading
  on delete).  It also guarantees something new: a tags row's dataset type is its dataset's.
* A tags table keeps a key only for the dimensions that none of its other dimensions requires: the key to
  ``instrument`` goes where ``(instrument, visit)`` has one, since a visit record's own key names its
  instrument's record.
* Alternate-key unique constraints of element tables put the alternate key first (``(name, instrument)``
  instead of ``(instrument, name)``).  On a table without statistics, as in an import that fills it, the
  planner could check a key by ``(instrument, id)`` through the old index, reading every record of the
  instrument per check.  SQLite has no such choice (it checks a key through the parent's matching index),
  so there the element tables are left as they are in both directions: rebuilding a table that others
  reference would need foreign keys switched off, which cannot be done inside the migration's transaction.

On PostgreSQL constraints are dropped and added in place (an added key validates the existing rows).
SQLite cannot alter a table's keys: each tags table is rebuilt (nothing references a tags table).  The
downgrade restores revision 0004's keys.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from skybutler.dimensions import DimensionUniverse

revision = "0005_pg_fk_checks"
down_revision = "0004_datastore_name"
branch_labels = None
depends_on = None

_ID_TYPE = "dataset_id_type"


def _universe(conn: sa.Connection) -> DimensionUniverse:
    text = conn.execute(sa.text("SELECT value FROM butler_attributes WHERE name = 'universe'")).scalar_one()
    return DimensionUniverse.from_yaml(text)


def _tags_tables(conn: sa.Connection) -> list[tuple[str, list[str]]]:
    """``(table, required dimensions)`` of every tags table (its columns after the three fixed ones)."""
    inspector = sa.inspect(conn)
    return [
        (table, [c["name"] for c in inspector.get_columns(table)][3:])
        for table in inspector.get_table_names()
        if table.startswith("dataset_tags_")
    ]


def _dimension_keys(universe: DimensionUniverse, dims: list[str], *, new: bool) -> list[tuple[str, list[str]]]:
    """``(dimension, local columns)`` of a tags table's dimension keys at this revision (or at 0004).

    Spelled out here, not taken from the schema module, so later changes there cannot alter this migration.
    """
    covered = {p for d in dims for p in universe[d].requires} if new else set()
    return [(d, [*universe[d].parents, d]) for d in dims if not universe[d].is_skypix and d not in covered]


def _keys(universe: DimensionUniverse, dims: list[str], *, new: bool) -> list[sa.ForeignKeyConstraint]:
    """Every foreign key of a tags table at this revision (``new``) or at 0004."""
    if new:
        out = [
            sa.ForeignKeyConstraint(
                ["dataset_id", "dataset_type_id"], ["dataset.id", "dataset.dataset_type_id"], ondelete="CASCADE"
            )
        ]
    else:
        out = [
            sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="CASCADE"),
            sa.ForeignKeyConstraint(["dataset_type_id"], ["dataset_type.dataset_type_id"]),
        ]
    out.append(sa.ForeignKeyConstraint(["collection_id"], ["collection.collection_id"]))
    for dim, local in _dimension_keys(universe, dims, new=new):
        element = universe[dim]
        out.append(sa.ForeignKeyConstraint(local, [f"{dim}.{c}" for c in [*element.parents, element.primary_key.name]]))
    return out


def _key_sql(table: str, key: sa.ForeignKeyConstraint) -> str:
    """``ALTER TABLE ... ADD FOREIGN KEY`` without a name: PostgreSQL names it as ``CREATE TABLE`` would."""
    local = ", ".join(f'"{c}"' for c in key.column_keys)
    target = key.elements[0].target_fullname.split(".")[0]
    remote = ", ".join(f'"{e.target_fullname.split(".")[1]}"' for e in key.elements)
    cascade = " ON DELETE CASCADE" if key.ondelete else ""
    return f'ALTER TABLE "{table}" ADD FOREIGN KEY ({local}) REFERENCES "{target}" ({remote}){cascade}'


def _signature(key: sa.ForeignKeyConstraint) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """``(local columns, table, remote columns)`` of a key, to compare with reflected ones."""
    remote = [e.target_fullname.split(".") for e in key.elements]
    return tuple(key.column_keys), remote[0][0], tuple(r[1] for r in remote)


def _postgres_tags(conn: sa.Connection, universe: DimensionUniverse, *, new: bool) -> None:
    """Drop the tags tables' keys this revision (or 0004) has not, and add those it has that are missing."""
    inspector = sa.inspect(conn)
    for table, dims in _tags_tables(conn):
        wanted = {_signature(key): key for key in _keys(universe, dims, new=new)}
        present = set()
        for fk in inspector.get_foreign_keys(table):
            found = (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
            if found in wanted:
                present.add(found)
            elif fk["name"] is not None:  # PostgreSQL names every constraint
                op.drop_constraint(fk["name"], table, type_="foreignkey")
        for signature, key in wanted.items():
            if signature not in present:
                conn.execute(sa.text(_key_sql(table, key)))


def _postgres_alternate_keys(conn: sa.Connection, universe: DimensionUniverse, *, new: bool) -> None:
    inspector = sa.inspect(conn)
    tables = set(inspector.get_table_names())
    for element in universe.elements:
        if element.name not in tables or not element.alternate_keys or not element.parents:
            continue
        existing = inspector.get_unique_constraints(element.name)
        for alt in element.alternate_keys:
            old, wanted = [*element.parents, alt.name], [alt.name, *element.parents]
            if not new:
                old, wanted = wanted, old
            for constraint in existing:
                if constraint["column_names"] == old and constraint["name"] is not None:
                    op.drop_constraint(constraint["name"], element.name, type_="unique")
            if not any(c["column_names"] == wanted for c in existing):
                columns = ", ".join(f'"{c}"' for c in wanted)
                conn.execute(sa.text(f'ALTER TABLE "{element.name}" ADD UNIQUE ({columns})'))


def _sqlite_rebuild_tags(conn: sa.Connection, universe: DimensionUniverse, *, new: bool) -> None:
    """Rebuild each tags table with this revision's (or 0004's) keys: same columns, rows and indexes."""
    for table, dims in _tags_tables(conn):
        inspector = sa.inspect(conn)
        indexes = inspector.get_indexes(table)
        unique = inspector.get_unique_constraints(table)
        primary = inspector.get_pk_constraint(table)["constrained_columns"]
        metadata = sa.MetaData()
        old = sa.Table(table, metadata, autoload_with=conn)  # also reflects the tables its keys name
        columns: list[Any] = [sa.Column(c.name, c.type, nullable=c.nullable) for c in old.columns]
        columns.append(sa.PrimaryKeyConstraint(*primary))
        columns += [sa.UniqueConstraint(*u["column_names"], name=u["name"]) for u in unique]
        columns += _keys(universe, dims, new=new)
        rebuilt = sa.Table(f"_{table}_new", metadata, *columns)
        rebuilt.create(conn)
        names = ", ".join(f'"{c.name}"' for c in old.columns)
        conn.execute(sa.text(f'INSERT INTO "{rebuilt.name}" ({names}) SELECT {names} FROM "{table}"'))
        conn.execute(sa.text(f'DROP TABLE "{table}"'))
        conn.execute(sa.text(f'ALTER TABLE "{rebuilt.name}" RENAME TO "{table}"'))
        for index in indexes:
            columns = [c for c in index["column_names"] if c is not None]  # tags tables index plain columns
            op.create_index(index["name"], table, columns, unique=bool(index["unique"]))


def upgrade() -> None:
    """Fold the tags tables' dataset and type keys into one, drop implied dimension keys, reorder alternate keys."""
    conn = op.get_bind()
    universe = _universe(conn)
    inspector = sa.inspect(conn)
    uniques: list[list[str | None]] = [list(u["column_names"]) for u in inspector.get_unique_constraints("dataset")]
    uniques += [ix["column_names"] for ix in inspector.get_indexes("dataset") if ix["unique"]]
    if ["id", "dataset_type_id"] not in uniques:
        op.create_index(_ID_TYPE, "dataset", ["id", "dataset_type_id"], unique=True)
    if conn.dialect.name == "sqlite":
        _sqlite_rebuild_tags(conn, universe, new=True)
    else:
        _postgres_tags(conn, universe, new=True)
        _postgres_alternate_keys(conn, universe, new=True)
    op.execute(f"UPDATE butler_attributes SET value = '{revision}' WHERE name = 'schema_version'")


def downgrade() -> None:
    """Restore revision 0004's keys (the dataset and type keys, every dimension key, parents-first order)."""
    conn = op.get_bind()
    universe = _universe(conn)
    if conn.dialect.name == "sqlite":
        _sqlite_rebuild_tags(conn, universe, new=False)
    else:
        _postgres_tags(conn, universe, new=False)
        _postgres_alternate_keys(conn, universe, new=False)
    op.drop_index(_ID_TYPE, "dataset")
    op.execute(f"UPDATE butler_attributes SET value = '{down_revision}' WHERE name = 'schema_version'")
