"""The ``server_token`` table: bearer tokens of ``skybutler serve``, stored as hashes with their grants.

Revision ID: 0008_server_tokens
Revises: 0005_pg_fk_checks

A remote butler authenticates with a bearer token made by ``skybutler token create``.  The registry keeps only
a SHA-256 of each token's secret (a stolen database dump yields no usable token), the user it names, its
grants (one per line: ``read:<glob>``, ``write:<glob>``, ``admin``), when it was made, when it expires and when
it was revoked.  The table is spelled out here as it is at this revision.  The downgrade drops it (every token
stops working, which is what running older code means).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_server_tokens"
down_revision = "0005_pg_fk_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``server_token`` (unless a registry made by newer code has it already)."""
    conn = op.get_bind()
    if not sa.inspect(conn).has_table("server_token"):
        op.create_table(
            "server_token",
            sa.Column("token_id", sa.String(32), primary_key=True),
            sa.Column("user_name", sa.String(128), nullable=False),
            sa.Column("secret_hash", sa.String(64), nullable=False),
            sa.Column("grants", sa.Text, nullable=False),
            sa.Column("created", sa.BigInteger, nullable=False),
            sa.Column("expires", sa.BigInteger, nullable=True),
            sa.Column("revoked", sa.BigInteger, nullable=True),
            sa.Column("note", sa.Text, nullable=True),
        )
    op.execute(f"UPDATE butler_attributes SET value = '{revision}' WHERE name = 'schema_version'")


def downgrade() -> None:
    """Drop ``server_token``: every token stops working."""
    op.drop_table("server_token")
    op.execute(f"UPDATE butler_attributes SET value = '{down_revision}' WHERE name = 'schema_version'")
