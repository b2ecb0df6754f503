"""The first schema, as written by ``Registry.create``: the baseline every later migration starts from.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to do: repositories are created at this version by ``Registry.create``."""


def downgrade() -> None:
    """Nothing to undo below the baseline."""
