"""Provenance tables: lineage edges, software environments and run records (revision 0007_provenance).

Edges have no foreign keys to ``dataset``: an edge outlives either end, so that removing a dataset that others
used (when the caller insists) keeps the history, with the removed dataset's ID and dataset type.  Dataset
types are stored by name for the same reason (a removed type's id would say nothing).  Environments are
stored once per distinct set of distributions (``digest``) and shared by runs; ``environment_fingerprint``
maps the cheap fingerprint of an installation (install folders and their modification times) to one, so a
known environment costs one indexed read and never a scan of the installed distributions.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["PROVENANCE_NAMES", "ProvenanceTables"]

PROVENANCE_NAMES = ("dataset_input", "environment", "environment_fingerprint", "run_record", "run_environment")


class ProvenanceTables:
    """The five provenance tables, defined in ``metadata``."""

    def __init__(self, metadata: sa.MetaData) -> None:
        self.edge = sa.Table(
            "dataset_input",
            metadata,
            sa.Column("output_id", sa.Uuid, primary_key=True),
            sa.Column("input_id", sa.Uuid, primary_key=True),
            sa.Column("output_type", sa.String(128), nullable=False),
            sa.Column("input_type", sa.String(128), nullable=False),
            # transaction time (TAI ns, as certifications): `invalidated(as_of=)` ignores edges recorded later
            sa.Column("recorded", sa.BigInteger, nullable=False),
            sa.Index("dataset_input_input", "input_id", "output_id", "output_type"),  # covers an impact walk
            sqlite_with_rowid=False,  # the key is the table: one B-tree fewer to write per put with inputs
        )
        self.environment = sa.Table(
            "environment",
            metadata,
            sa.Column("env_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
            sa.Column("digest", sa.String(64), nullable=False, unique=True),
            sa.Column("python", sa.String(256), nullable=False),
            sa.Column("platform", sa.String(256), nullable=False),
            sa.Column("packages", sa.Text, nullable=False),  # JSON object: distribution name -> version
            sa.Column("created", sa.BigInteger, nullable=False),
        )
        self.fingerprint = sa.Table(
            "environment_fingerprint",
            metadata,
            sa.Column("fingerprint", sa.String(64), primary_key=True),
            sa.Column("env_id", sa.BigInteger, sa.ForeignKey("environment.env_id"), nullable=False),
        )
        self.run = sa.Table(
            "run_record",
            metadata,
            sa.Column(
                "run_id", sa.BigInteger, sa.ForeignKey("collection.collection_id", ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column("host", sa.String(256), nullable=False),
            sa.Column("user_name", sa.String(256), nullable=False),
            sa.Column("command", sa.Text, nullable=False),
            sa.Column("cwd", sa.Text, nullable=False),
            sa.Column("started", sa.BigInteger, nullable=False),  # UTC ns (time.time_ns)
            sa.Column("ended", sa.BigInteger, nullable=True),  # NULL: the last write's time stands for it
            sa.Column("config", sa.Text, nullable=True),  # JSON object, the run's configuration
        )  # fmt: skip
        self.run_environment = sa.Table(
            "run_environment",
            metadata,
            sa.Column(
                "run_id", sa.BigInteger, sa.ForeignKey("collection.collection_id", ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column("env_id", sa.BigInteger, sa.ForeignKey("environment.env_id"), primary_key=True),
        )  # fmt: skip
