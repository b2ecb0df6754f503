"""Registry tables: the static ones, and those generated from the dimension universe.

Dimension tables are named after their element; their primary key is the element's required dimensions,
with foreign keys to the parents' tables (``requires``) and to implied dimensions' tables (``implies``).
Dataset membership lives in one *tags* table per set of required dimensions (created when the first dataset
type with those dimensions is registered), with a column per dimension so queries can join on them.

Foreign keys are chosen for bulk inserts on PostgreSQL, which checks every key of every row with one query
(about 10 µs each; most of an import's server time).  A tags row has one key per dimension that no other of
its dimensions requires (the others' records are guaranteed through the element tables' own keys) and one
key to ``dataset(id, dataset_type_id)``, which also guarantees the dataset type; alternate-key constraints
put the alternate key first, so that a check by primary key cannot be planned on them (`_element_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.errors import ConfigError
from skybutler.registry._provenance_tables import PROVENANCE_NAMES, ProvenanceTables

if TYPE_CHECKING:
    from skybutler.dimensions import DimensionElement, DimensionGroup, DimensionUniverse

__all__ = [
    "DATASET_ID_TYPE",
    "SCHEMA_VERSION",
    "DimensionTables",
    "StaticTables",
    "calibs_table",
    "tags_key_dimensions",
    "tags_lookup_indexes",
    "tags_table",
    "token_table",
]

#: The Alembic revision this code expects (see registry/migrations); bump with every migration.
SCHEMA_VERSION = "0009_run_end_index"

_TYPES: dict[str, Callable[[int | None], sa.types.TypeEngine[Any]]] = {
    "int": lambda length: sa.BigInteger(),
    "float": lambda length: sa.Float(),
    "bool": lambda length: sa.Boolean(),
    "string": lambda length: sa.String(length),
    "bytes": lambda length: sa.LargeBinary(length),
}

#: The unique index on ``dataset(id, dataset_type_id)`` that tags tables' foreign keys reference.
DATASET_ID_TYPE = "dataset_id_type"

STATIC_NAMES = (
    "butler_attributes", "collection", "collection_chain", "dataset_type", "dataset", "datastore_record", "trash",
    "server_token",
    *PROVENANCE_NAMES,
)  # fmt: skip


class StaticTables:
    """The tables every repository has, whatever its universe: made together when one is first asked for.

    Making them costs a process 3 ms of CPU, 10-13 ms if they are its first SQLAlchemy tables; opening a
    repository and registering its dataset types and collections need none of them (that is SQL text:
    `Database.one_row`), so a process's first create and open (W1's ``create_repo``, issue 26) no longer pay
    it.  They are made all at once, so that every foreign key among them, and from the tags tables made
    later (`tags_table`), resolves; `make` makes them before the whole schema is created.
    """

    attributes: sa.Table
    collection: sa.Table
    dataset_type: sa.Table
    dataset: sa.Table
    datastore_record: sa.Table
    trash: sa.Table
    collection_chain: sa.Table
    provenance: ProvenanceTables
    server_token: sa.Table

    def __init__(self, metadata: sa.MetaData) -> None:
        self._metadata = metadata
        self._made = False

    def __getattr__(self, name: str) -> Any:
        # Called only for attributes not set yet: the tables, before they are made.
        if name.startswith("_") or self._made:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.make()
        return getattr(self, name)

    def make(self) -> None:
        """Make every static table in the metadata (once)."""
        if self._made:
            return
        metadata = self._metadata
        self.attributes = sa.Table(
            "butler_attributes",
            metadata,
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
        self.collection = sa.Table(
            "collection",
            metadata,
            sa.Column("collection_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
            sa.Column("name", sa.String(256), nullable=False, unique=True),
            sa.Column("type", sa.SmallInteger, nullable=False),
            sa.Column("doc", sa.Text, nullable=True),
        )
        self.dataset_type = sa.Table(
            "dataset_type",
            metadata,
            sa.Column("dataset_type_id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(128), nullable=False, unique=True),
            sa.Column("dimensions", sa.Text, nullable=False),
            sa.Column("storage_class", sa.String(64), nullable=False),
            sa.Column("is_calibration", sa.Boolean, nullable=False),
            sa.Column("tag_table", sa.String(128), nullable=False),
            # Formatter short name chosen at registration (NULL: the repository configuration decides).
            sa.Column("format", sa.String(64), nullable=True),
        )
        self.dataset = sa.Table(
            "dataset",
            metadata,
            sa.Column("id", sa.Uuid, primary_key=True),
            sa.Column(
                "dataset_type_id",
                sa.Integer,
                sa.ForeignKey("dataset_type.dataset_type_id"),
                nullable=False,
            ),
            sa.Column("run_id", sa.BigInteger, sa.ForeignKey("collection.collection_id"), nullable=False),
            sa.Column("ingest_date", sa.BigInteger, nullable=False),
            # ingest_date last: a run's last write is one seek per dataset type (see revision 0009)
            sa.Index("dataset_run_type_date", "run_id", "dataset_type_id", "ingest_date"),
            # What the tags tables' foreign key names: a tags row's dataset has the row's dataset type.  An
            # index rather than a table constraint, so that SQLite can drop it (a migration's downgrade).
            sa.Index(DATASET_ID_TYPE, "id", "dataset_type_id", unique=True),
        )
        self.datastore_record = sa.Table(
            "datastore_record",
            metadata,
            sa.Column("dataset_id", sa.Uuid, sa.ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True),
            sa.Column("component", sa.String(64), primary_key=True),
            # which datastore holds it: a chained datastore's child by name, "" for a repository's only one
            sa.Column("datastore", sa.String(64), primary_key=True, server_default=""),
            sa.Column("path", sa.Text, nullable=False),
            sa.Column("formatter", sa.String(64), nullable=False),
            sa.Column("storage_class", sa.String(64), nullable=False),
            sa.Column("file_size", sa.BigInteger, nullable=False),
            sa.Column("checksum", sa.String(80), nullable=True),
            sa.Index("datastore_record_path", "path"),
        )
        self.trash = sa.Table(
            "trash",
            metadata,
            sa.Column("trash_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
            sa.Column("dataset_id", sa.Uuid, nullable=False),
            sa.Column("datastore", sa.String(64), nullable=False, server_default=""),
            sa.Column("path", sa.Text, nullable=False),
            sa.Column("created", sa.BigInteger, nullable=False),
        )
        self.collection_chain = sa.Table(
            "collection_chain",
            metadata,
            sa.Column(
                "parent_id", sa.BigInteger, sa.ForeignKey("collection.collection_id", ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column("position", sa.SmallInteger, primary_key=True),
            sa.Column("child_id", sa.BigInteger, sa.ForeignKey("collection.collection_id"), nullable=False),
            sa.Index("collection_chain_child", "child_id"),
        )  # fmt: skip
        self.provenance = ProvenanceTables(metadata)
        self.server_token = token_table(metadata)
        self._made = True


def token_table(metadata: sa.MetaData) -> sa.Table:
    """The bearer tokens of ``skybutler serve`` (`skybutler.registry.Tokens`): only a hash of each secret."""
    return sa.Table(
        "server_token",
        metadata,
        sa.Column("token_id", sa.String(32), primary_key=True),
        sa.Column("user_name", sa.String(128), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("grants", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=True),
        sa.Column("revoked", sa.BigInteger, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
    )


def _column(name: str, spec_type: str, length: int | None, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, _TYPES[spec_type](length), nullable=nullable)


class DimensionTables(Mapping[str, sa.Table]):
    """One table per element with records (skypix dimensions have none), each made when first used.

    Opening a repository to run one query touches a few of the universe's element tables, and making a
    SQLAlchemy table costs about 0.5 ms: making all 19 of the default universe's took a tenth of a
    command-line query (issue 8).  A table is made together with the tables its foreign keys name, so every
    table in the metadata can resolve its foreign keys; `make_referenced` does the same for a table about to
    be created in the database, and `make_all` makes every one (before ``create_all``).
    """

    def __init__(self, metadata: sa.MetaData, universe: DimensionUniverse) -> None:
        self._metadata = metadata
        self._universe = universe
        self._names = [e.name for e in universe.elements if not e.is_skypix]
        for name in self._names:
            if name in STATIC_NAMES:
                raise ConfigError(f"Universe element {name!r} collides with a registry table name.")
        self._made: dict[str, sa.Table] = {}

    def __getitem__(self, name: str) -> sa.Table:
        table = self._made.get(name)
        if table is None:
            if name not in self._names:
                raise KeyError(name)
            table = self._made[name] = _element_table(self._metadata, self._universe, self._universe[name])
            self.make_referenced(table)
        return table

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names  # without making the table (`Mapping`'s would)

    def __len__(self) -> int:
        return len(self._names)

    def make_referenced(self, table: sa.Table) -> None:
        """Make the element tables that ``table``'s foreign keys name (so DDL and joins can resolve them)."""
        for fk in table.foreign_keys:
            target = fk.target_fullname.split(".", 1)[0]
            if target in self._names:
                self[target]

    def make_all(self) -> None:
        """Make every element table and every overlap table (to create them all in a new registry)."""
        for name in self._names:
            self[name]
            if self._universe[name].has_region:
                self.overlap(name)

    def overlap(self, name: str) -> sa.Table:
        """The skypix overlap table of element ``name`` (which has regions), with its element table."""
        from skybutler.registry._spatial_index import overlap_table

        self[name]
        return overlap_table(self._metadata, self._universe, self._universe[name])


def _element_table(metadata: sa.MetaData, universe: DimensionUniverse, element: DimensionElement) -> sa.Table:
    columns: list[sa.schema.SchemaItem] = []
    key_names = [*element.parents, *(k.name for k in element.keys[:1])]
    for name, spec in zip(element.record_fields(), element.field_specs, strict=True):
        if spec is None:
            continue
        col = _column(name, spec.type, spec.length, nullable=spec.nullable)
        col.primary_key = name in key_names
        columns.append(col)
    if element.has_timespan:
        columns.append(sa.Column("timespan_begin", sa.BigInteger, nullable=True))
        columns.append(sa.Column("timespan_end", sa.BigInteger, nullable=True))
    if element.has_region:
        columns.append(sa.Column("region", sa.LargeBinary, nullable=True))
    for parent_name in element.requires:
        parent = universe[parent_name]
        if parent.is_skypix:
            continue
        local = [*list(parent.parents), parent.name]
        remote = [f"{parent.name}.{c}" for c in [*parent.parents, parent.primary_key.name]]
        columns.append(sa.ForeignKeyConstraint(local, remote))
    for implied_name in element.implies:
        implied = universe[implied_name]
        local = [*list(implied.parents), implied.name]
        missing = [c for c in implied.parents if c not in element.required]
        if missing or implied.is_skypix:
            continue
        remote = [f"{implied.name}.{c}" for c in [*implied.parents, implied.primary_key.name]]
        columns.append(sa.ForeignKeyConstraint(local, remote))
    for alt in element.alternate_keys:
        # Alternate key first: led by the parents, as (instrument, name), PostgreSQL's planner could pick it
        # for a foreign-key check by (instrument, id) on a table without statistics (a tie: both unique) and
        # read every visit of the instrument per check; lookups by alternate key fix every column anyway.
        columns.append(sa.UniqueConstraint(alt.name, *element.parents))
    return sa.Table(element.name, metadata, *columns)


def tags_table(metadata: sa.MetaData, universe: DimensionUniverse, group: DimensionGroup, name: str) -> sa.Table:
    """The membership table of datasets whose dataset types have the required dimensions of ``group``."""
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("dataset_type_id", sa.Integer, nullable=False),
        sa.Column("collection_id", sa.BigInteger, sa.ForeignKey("collection.collection_id"), nullable=False),
        sa.Column("dataset_id", sa.Uuid, nullable=False),
        # One key for the dataset and its type (dataset's own key guarantees the type exists).
        sa.ForeignKeyConstraint(
            ["dataset_id", "dataset_type_id"], ["dataset.id", "dataset.dataset_type_id"], ondelete="CASCADE"
        ),
    ]
    for dim in group.required:
        pk = universe[dim].primary_key
        columns.append(_column(dim, pk.type, pk.length, nullable=False))
    for dim in tags_key_dimensions(universe, group):
        element = universe[dim]
        local = [*element.parents, dim]
        columns.append(
            sa.ForeignKeyConstraint(local, [f"{dim}.{c}" for c in [*element.parents, element.primary_key.name]])
        )
    columns.append(sa.PrimaryKeyConstraint("dataset_id", "collection_id"))
    columns.append(sa.UniqueConstraint("dataset_type_id", "collection_id", *group.required, name=f"{name}_unique"))
    # Lookups by data ID across collections ("where else is it?", queries by data ID) use this one.
    columns.append(sa.Index(f"{name}_data_id", *group.required, "dataset_type_id"))
    columns += [sa.Index(index, *cols) for index, cols in tags_lookup_indexes(universe, group, name)]
    return sa.Table(name, metadata, *columns)


def tags_key_dimensions(universe: DimensionUniverse, group: DimensionGroup) -> list[str]:
    """The required dimensions of ``group`` that a tags table has a foreign key for.

    A dimension that another of the group requires (``instrument``, beside ``(instrument, visit)``) needs no
    key of its own: the other's record exists, and its table's key to this one guarantees this record too
    (transitively, through each element table's keys to what it requires).  Skypix dimensions have no table.
    PostgreSQL checks each key of each inserted row with a query, so every key left out is a check saved.
    """
    covered = {parent for dim in group.required for parent in universe[dim].requires}
    return [d for d in group.required if d not in covered and not universe[d].is_skypix]


def tags_lookup_indexes(universe: DimensionUniverse, group: DimensionGroup, name: str) -> list[tuple[str, list[str]]]:
    """Indexes for partial data IDs that fix a dimension not at the front of the data-ID index: ``(name, columns)``.

    The unique and data-ID indexes lead with the required dimensions in order (instrument, detector, visit),
    so "every detector of visit 5" would scan the instrument's rows; an index on (type, collection,
    instrument, visit) makes it a range read.  One per dimension whose own required keys are not a prefix of
    the data-ID index.
    """
    out = []
    for dim in group.required:
        keys = [d for d in universe[dim].required if d in group.required]
        if keys != list(group.required[: len(keys)]):
            # Led by type and collection like the unique index, then the other dimensions (so rows come out in
            # data-ID order once this dimension is fixed, and planners without statistics prefer it to a
            # sort-free scan of the unique index), then the dataset ID: a covering index.
            rest = [d for d in group.required if d not in keys]
            out.append((f"{name}_{dim}", ["dataset_type_id", "collection_id", *keys, *rest, "dataset_id"]))
    return out


def calibs_table(metadata: sa.MetaData, universe: DimensionUniverse, group: DimensionGroup, name: str) -> sa.Table:
    """Certification rows of calibration datasets with the required dimensions of ``group``.

    Bitemporal: ``valid_begin``/``valid_end`` is observation time (TAI ns, half-open), ``recorded_begin``/
    ``recorded_end`` transaction time (``recorded_end`` = TIMESPAN_MAX while the row is current).  Rows are
    only ever appended, or closed by setting ``recorded_end``.
    """
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("row_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("dataset_type_id", sa.Integer, sa.ForeignKey("dataset_type.dataset_type_id"), nullable=False),
        sa.Column(
            "collection_id", sa.BigInteger, sa.ForeignKey("collection.collection_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("dataset_id", sa.Uuid, sa.ForeignKey("dataset.id", ondelete="CASCADE"), nullable=False),
    ]  # fmt: skip
    for dim in group.required:
        pk = universe[dim].primary_key
        columns.append(_column(dim, pk.type, pk.length, nullable=False))
    columns += [
        sa.Column("valid_begin", sa.BigInteger, nullable=False),
        sa.Column("valid_end", sa.BigInteger, nullable=False),
        sa.Column("recorded_begin", sa.BigInteger, nullable=False),
        sa.Column("recorded_end", sa.BigInteger, nullable=False),
        sa.Index(f"{name}_lookup", "dataset_type_id", "collection_id", *group.required, "valid_begin"),
        sa.Index(f"{name}_recorded", "collection_id", "recorded_begin"),
    ]
    return sa.Table(name, metadata, *columns)
