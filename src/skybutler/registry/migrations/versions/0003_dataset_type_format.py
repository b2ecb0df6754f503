"""A ``format`` column on ``dataset_type``: the formatter chosen for a dataset type when it was registered.

Revision ID: 0003_dataset_type_format
Revises: 0002

Existing dataset types get NULL, which means what every type meant before this revision: the repository
configuration (``datastore.formatters``, ``datastore.prefer``, the built-in defaults) picks the formatter.
Adding a nullable column rewrites no rows on SQLite or PostgreSQL.  The downgrade drops the column, and with
it any format chosen since; files already written keep the formatter recorded with them either way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_dataset_type_format"
down_revision = "0002"
branch_labels = None
depends_on = None


def _has_column() -> bool:
    return "format" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("dataset_type")}


def upgrade() -> None:
    """Add the nullable ``dataset_type.format`` column (unless a re-stamped registry has it already)."""
    if not _has_column():
        op.add_column("dataset_type", sa.Column("format", sa.String(64), nullable=True))
    op.execute(f"UPDATE butler_attributes SET value = '{revision}' WHERE name = 'schema_version'")


def downgrade() -> None:
    """Drop ``dataset_type.format`` (SQLite 3.35 and later drop columns in place)."""
    if _has_column():
        op.drop_column("dataset_type", "format")
    op.execute(f"UPDATE butler_attributes SET value = '{down_revision}' WHERE name = 'schema_version'")
