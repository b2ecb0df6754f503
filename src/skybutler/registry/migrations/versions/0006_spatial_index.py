"""The skypix overlap index: one ``<element>_skypix_overlap`` table per element with regions, filled from them.

Revision ID: 0006_spatial_index
Revises: 0008_server_tokens (chained after issue 20's revision at the merge)

Spatial queries narrow rows in SQL through the pixels of the universe's common skypix level (``htm7``) that
each record's region touches (see ``skybutler.registry._spatial_index``).  A repository made before this
revision holds regions but no index: the upgrade creates the tables and fills them from every stored region,
in the migration's transaction.  A stored region that is not a valid sphgeom encoding stops the upgrade with
the record named (nothing is changed).  The downgrade drops the tables; the regions themselves are untouched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from skybutler.dimensions import DimensionUniverse

revision = "0006_spatial_index"
down_revision = "0008_server_tokens"
branch_labels = None
depends_on = None

_BATCH = 5000


def _universe(conn: sa.Connection) -> DimensionUniverse:
    text = conn.execute(sa.text("SELECT value FROM butler_attributes WHERE name = 'universe'")).scalar_one()
    return DimensionUniverse.from_yaml(text)


def upgrade() -> None:
    """Create and fill the overlap table of every element with regions whose table exists."""
    from skybutler.dimensions._regions import decode_region
    from skybutler.registry._schema import DimensionTables
    from skybutler.registry._spatial_index import OVERLAP_COLUMN, overlap_pixels

    conn = op.get_bind()
    universe = _universe(conn)
    existing = set(sa.inspect(conn).get_table_names())
    common = universe.skypix_common
    tables = DimensionTables(sa.MetaData(), universe)
    for element in universe.elements:
        if not element.has_region or element.name not in existing or common is None:
            continue
        overlap = tables.overlap(element.name)
        if overlap.name in existing:
            continue
        overlap.create(conn)
        source = tables[element.name]
        own = [*element.parents, element.primary_key.name] if element.is_dimension else list(element.required)
        rows = conn.execute(sa.select(*[source.c[c] for c in own], source.c.region).where(source.c.region.is_not(None)))
        batch: list[dict[str, object]] = []
        for *key, data in rows:
            region = decode_region(data, what=f"{element.name} {dict(zip(element.required, key, strict=True))} region")
            base = dict(zip(element.required, key, strict=True))
            batch.extend({**base, OVERLAP_COLUMN: pixel} for pixel in overlap_pixels(region, common))
            if len(batch) >= _BATCH:
                conn.execute(overlap.insert(), batch)
                batch = []
        if batch:
            conn.execute(overlap.insert(), batch)
    op.execute(f"UPDATE butler_attributes SET value = '{revision}' WHERE name = 'schema_version'")


def downgrade() -> None:
    """Drop the overlap tables."""
    from skybutler.registry._spatial_index import overlap_table_name

    conn = op.get_bind()
    existing = set(sa.inspect(conn).get_table_names())
    for element in _universe(conn).elements:
        name = overlap_table_name(element.name)
        if name in existing:
            op.drop_table(name)
    op.execute(f"UPDATE butler_attributes SET value = '{down_revision}' WHERE name = 'schema_version'")
