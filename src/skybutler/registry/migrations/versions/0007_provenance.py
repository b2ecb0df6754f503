"""Provenance: lineage edges between datasets, software environments and run records.

Revision ID: 0007_provenance
Revises: 0006_spatial_index

Adds five tables and nothing else (no existing row changes).  The tables are spelled out here as they are at
this revision, so later schema changes cannot alter what this migration does; each is created only where
absent, so a registry created by newer code and stamped older upgrades cleanly.  The downgrade drops them,
and refuses while any lineage edge or run record exists: the revision before has nowhere to keep them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from skybutler.errors import ConflictError

revision = "0007_provenance"
down_revision = "0006_spatial_index"
branch_labels = None
depends_on = None

_NAMES = ("run_environment", "run_record", "environment_fingerprint", "environment", "dataset_input")


def _tables() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table("collection", metadata, sa.Column("collection_id", sa.BigInteger, primary_key=True))
    sa.Table(
        "dataset_input",
        metadata,
        sa.Column("output_id", sa.Uuid, primary_key=True),
        sa.Column("input_id", sa.Uuid, primary_key=True),
        sa.Column("output_type", sa.String(128), nullable=False),
        sa.Column("input_type", sa.String(128), nullable=False),
        sa.Column("recorded", sa.BigInteger, nullable=False),
        sa.Index("dataset_input_input", "input_id", "output_id", "output_type"),
        sqlite_with_rowid=False,
    )
    sa.Table(
        "environment",
        metadata,
        sa.Column("env_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("python", sa.String(256), nullable=False),
        sa.Column("platform", sa.String(256), nullable=False),
        sa.Column("packages", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    sa.Table(
        "environment_fingerprint",
        metadata,
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("env_id", sa.BigInteger, sa.ForeignKey("environment.env_id"), nullable=False),
    )
    run_key = sa.ForeignKey("collection.collection_id", ondelete="CASCADE")
    sa.Table(
        "run_record",
        metadata,
        sa.Column("run_id", sa.BigInteger, run_key, primary_key=True),
        sa.Column("host", sa.String(256), nullable=False),
        sa.Column("user_name", sa.String(256), nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("cwd", sa.Text, nullable=False),
        sa.Column("started", sa.BigInteger, nullable=False),
        sa.Column("ended", sa.BigInteger, nullable=True),
        sa.Column("config", sa.Text, nullable=True),
    )
    sa.Table(
        "run_environment",
        metadata,
        sa.Column(
            "run_id", sa.BigInteger, sa.ForeignKey("collection.collection_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("env_id", sa.BigInteger, sa.ForeignKey("environment.env_id"), primary_key=True),
    )
    return metadata


def upgrade() -> None:
    """Create the provenance tables that do not exist yet."""
    conn = op.get_bind()
    existing = set(sa.inspect(conn).get_table_names())
    metadata = _tables()
    for name in reversed(_NAMES):  # referenced tables first
        if name not in existing:
            metadata.tables[name].create(conn)
    op.execute(f"UPDATE butler_attributes SET value = '{revision}' WHERE name = 'schema_version'")


def downgrade() -> None:
    """Drop the provenance tables, unless they hold lineage or run records (the downgrade would lose them)."""
    conn = op.get_bind()
    held = {
        name: conn.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar_one()
        for name in ("dataset_input", "run_record")
    }
    if any(held.values()):
        raise ConflictError(
            f"The registry holds {held['dataset_input']} lineage edge(s) and {held['run_record']} run record(s); "
            "the revision before has no tables for them. Export the repository first (or keep this revision)."
        )
    metadata = _tables()
    for name in _NAMES:
        metadata.tables[name].drop(conn)
    op.execute(f"UPDATE butler_attributes SET value = '{down_revision}' WHERE name = 'schema_version'")
