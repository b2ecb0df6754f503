"""Indexes for partial data IDs on every existing tags table (e.g. (instrument, visit) beside the data-ID index).

Revision ID: 0002
Revises: 0001

New tags tables get them from ``tags_table``; this adds the same ones to tables created at revision 0001,
using the universe stored in the registry.  Index creation only: nothing is rewritten, and the downgrade drops
exactly what the upgrade added.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from skybutler.dimensions import DimensionUniverse
from skybutler.registry._schema import tags_lookup_indexes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _missing(conn: sa.Connection, *, present: bool) -> list[tuple[str, str, list[str]]]:
    """``(table, index, columns)`` of the lookup indexes that are absent (or, with ``present``, there)."""
    text = conn.execute(sa.text("SELECT value FROM butler_attributes WHERE name = 'universe'")).scalar_one()
    universe = DimensionUniverse.from_yaml(text)
    inspector = sa.inspect(conn)
    out = []
    for table in inspector.get_table_names():
        if not table.startswith("dataset_tags_"):
            continue
        dims = [c["name"] for c in inspector.get_columns(table)][3:]
        existing = {ix["name"] for ix in inspector.get_indexes(table)}
        for index, columns in tags_lookup_indexes(universe, universe.group(dims), table):
            if (index in existing) == present:
                out.append((table, index, columns))
    return out


def upgrade() -> None:
    """Create the lookup indexes that tags tables of revision 0001 lack."""
    for table, index, columns in _missing(op.get_bind(), present=False):
        op.create_index(index, table, columns)
    op.execute("UPDATE butler_attributes SET value = '0002' WHERE name = 'schema_version'")


def downgrade() -> None:
    """Drop the lookup indexes."""
    for table, index, _ in _missing(op.get_bind(), present=True):
        op.drop_index(index, table_name=table)
    op.execute("UPDATE butler_attributes SET value = '0001' WHERE name = 'schema_version'")
