"""A ``datastore`` column naming which datastore holds each artifact (and each trashed path).

Revision ID: 0004_datastore_name
Revises: 0003_dataset_type_format

A chained datastore stores a dataset in one or more of its children; the registry records which, so a read
never guesses and a removal deletes from exactly those children.  The column joins ``datastore_record``'s
primary key (one row per dataset, component and child).  Existing rows get ``""``: the repository's only
datastore, which is what they meant.  Columns are added only where absent, so a registry created by newer
code and stamped older upgrades cleanly.  The downgrade refuses while any row names a child, since dropping
the column would lose where those artifacts are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from skybutler.errors import ConflictError

revision = "0004_datastore_name"
down_revision = "0003_dataset_type_format"
branch_labels = None
depends_on = None

_KEY = ["dataset_id", "component"]


def _has_column(conn: sa.Connection, table: str, column: str) -> bool:
    return any(c["name"] == column for c in sa.inspect(conn).get_columns(table))


def _sqlite_rebuild(conn: sa.Connection, *, with_datastore: bool) -> None:
    """Rebuild ``datastore_record`` with or without the ``datastore`` column (SQLite cannot alter a key).

    The table is spelled out here as it is at each revision, so later schema changes cannot alter what this
    migration does.
    """
    metadata = sa.MetaData()
    key = [sa.Column("datastore", sa.String(64), primary_key=True, server_default="")] if with_datastore else []
    new = sa.Table(
        "_datastore_record_new",
        metadata,
        sa.Column("dataset_id", sa.Uuid, sa.ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("component", sa.String(64), primary_key=True),
        *key,
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("formatter", sa.String(64), nullable=False),
        sa.Column("storage_class", sa.String(64), nullable=False),
        sa.Column("file_size", sa.BigInteger, nullable=False),
        sa.Column("checksum", sa.String(80), nullable=True),
    )
    sa.Table("dataset", metadata, sa.Column("id", sa.Uuid, primary_key=True))  # for the foreign key only
    new.create(conn)
    kept = "dataset_id, component, path, formatter, storage_class, file_size, checksum"
    columns, values = (f"{kept}, datastore", f"{kept}, ''") if with_datastore else (kept, kept)
    conn.execute(sa.text(f"INSERT INTO _datastore_record_new ({columns}) SELECT {values} FROM datastore_record"))
    conn.execute(sa.text("DROP TABLE datastore_record"))
    conn.execute(sa.text("ALTER TABLE _datastore_record_new RENAME TO datastore_record"))
    conn.execute(sa.text("CREATE INDEX datastore_record_path ON datastore_record (path)"))


def _postgres_key(conn: sa.Connection, columns: list[str]) -> None:
    name = sa.inspect(conn).get_pk_constraint("datastore_record").get("name") or "datastore_record_pkey"
    op.drop_constraint(name, "datastore_record", type_="primary")
    op.create_primary_key(name, "datastore_record", columns)


def upgrade() -> None:
    """Add ``datastore`` to ``datastore_record`` (and its primary key) and to ``trash``."""
    conn = op.get_bind()
    if not _has_column(conn, "datastore_record", "datastore"):
        if conn.dialect.name == "sqlite":
            _sqlite_rebuild(conn, with_datastore=True)
        else:
            op.add_column("datastore_record", sa.Column("datastore", sa.String(64), nullable=False, server_default=""))
            _postgres_key(conn, [*_KEY, "datastore"])
    if not _has_column(conn, "trash", "datastore"):
        op.add_column("trash", sa.Column("datastore", sa.String(64), nullable=False, server_default=""))
    op.execute(f"UPDATE butler_attributes SET value = '{revision}' WHERE name = 'schema_version'")


def downgrade() -> None:
    """Drop the columns again, unless an artifact is held by a named child (that would lose where it is)."""
    conn = op.get_bind()
    named = conn.execute(sa.text("SELECT COUNT(*) FROM datastore_record WHERE datastore <> ''")).scalar_one()
    if named:
        raise ConflictError(
            f"{named} artifact record(s) name a child of a chained datastore; revision 0003 cannot say where "
            "they are. Remove those datasets (or keep this revision)."
        )
    if conn.dialect.name == "sqlite":
        _sqlite_rebuild(conn, with_datastore=False)
        conn.execute(sa.text("ALTER TABLE trash DROP COLUMN datastore"))
    else:
        _postgres_key(conn, _KEY)
        op.drop_column("datastore_record", "datastore")
        op.drop_column("trash", "datastore")
    op.execute(f"UPDATE butler_attributes SET value = '{down_revision}' WHERE name = 'schema_version'")
