"""The dataset table's run index gains ``ingest_date``: a run's last write found in a few index seeks.

Revision ID: 0009_run_end_index
Revises: 0008_server_tokens

A run written outside ``Butler.run_context`` has no end time of its own; its record shows its last write, the
largest ``ingest_date`` of its datasets.  With ``(run_id, dataset_type_id)`` alone that was a walk over every
dataset of the run (about a second for a run of a million datasets); with ``ingest_date`` last in the same
index it is one seek to the end of each (run, dataset type) range.  The index replaces the old one (same
leading columns, so every plan that used it still can).  The downgrade puts the old one back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_run_end_index"
down_revision = "0008_server_tokens"
branch_labels = None
depends_on = None


def _indexes() -> set[str | None]:
    return {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("dataset")}


def upgrade() -> None:
    """Replace ``dataset_run_type`` by ``dataset_run_type_date``."""
    existing = _indexes()
    if "dataset_run_type_date" not in existing:
        op.create_index("dataset_run_type_date", "dataset", ["run_id", "dataset_type_id", "ingest_date"])
    if "dataset_run_type" in existing:
        op.drop_index("dataset_run_type", table_name="dataset")
    op.execute(f"UPDATE butler_attributes SET value = '{revision}' WHERE name = 'schema_version'")


def downgrade() -> None:
    """Put ``dataset_run_type`` back."""
    op.create_index("dataset_run_type", "dataset", ["run_id", "dataset_type_id"])
    op.drop_index("dataset_run_type_date", table_name="dataset")
    op.execute("UPDATE butler_attributes SET value = '0008_server_tokens' WHERE name = 'schema_version'")
