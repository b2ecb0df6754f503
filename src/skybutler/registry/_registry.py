"""`Registry`: the SQL database of dimensions, dataset types, collections and datasets (never touches files)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import sqlalchemy as sa

from skybutler.datasets import DatasetType
from skybutler.dimensions import DataCoordinate, DimensionRecord, DimensionUniverse, normalize_data_id
from skybutler.errors import ConfigError, ConflictError, DataIdError, DatasetNotFoundError, MigrationRequiredError
from skybutler.registry._calibrations import Calibrations, tai_now
from skybutler.registry._collections import CollectionRecord, Collections, CollectionType
from skybutler.registry._data_ids import DataIdResolver
from skybutler.registry._dataset_types import DatasetTypes
from skybutler.registry._datasets import Datasets
from skybutler.registry._dimensions import DimensionRecords
from skybutler.registry._engines import Database
from skybutler.registry._explain import explain_insert_failure, explain_missing
from skybutler.registry._misses import MissFacts, MissReader
from skybutler.registry._schema import SCHEMA_VERSION, DimensionTables, StaticTables
from skybutler.registry._search import find_first
from skybutler.registry._single_reads import single_statement_read
from skybutler.registry._statistics import RangeEstimates
from skybutler.registry._tokens import Tokens

if TYPE_CHECKING:
    from skybutler.dimensions import DataIdValue, DimensionGroup
    from skybutler.registry._dataset_types import StoredDatasetType
    from skybutler.registry._datasets import DatasetRow
    from skybutler.registry._provenance import Lineage
    from skybutler.registry._run_records import Environment, RunRecords
    from skybutler.types import DataIdLike

__all__ = ["ExplainedDataId", "Registry"]


class ExplainedDataId:
    """An expanded data ID with the steps that completed it (``expand_data_id(..., explain=True)``)."""

    def __init__(self, data_id: DataCoordinate, given: str, steps: list[str]) -> None:
        self.data_id = data_id
        self.given = given
        self.steps = steps

    def __str__(self) -> str:
        lines = [f"given: {self.given}", *(f"  + {s}" for s in self.steps), f"result: {self.data_id}"]
        return "\n".join(lines)


class Registry:
    """The registry of one repository: a database connection plus managers for each kind of row.

    Open one with `Registry.create` or `Registry.open`; a `Butler` does this for you and exposes it as
    ``butler.registry``.
    """

    def __init__(self, db: Database, universe: DimensionUniverse) -> None:
        self.db = db
        self.universe = universe
        self.metadata = sa.MetaData()
        self.tables = StaticTables(self.metadata)
        self.dimension_tables = DimensionTables(self.metadata, universe)
        self.records = DimensionRecords(db, universe, self.dimension_tables)
        self.resolver = DataIdResolver(universe, self.records)
        self.collections = Collections(db, self.tables)
        self.dataset_types = DatasetTypes(db, self.tables, self.metadata, universe, self.dimension_tables)
        self.dataset_types.on_remove = self.collections.bump_generation  # one generation for both caches
        self.datasets = Datasets(db, self.tables)
        self.calibrations = Calibrations(db, self.tables)
        self.misses = MissReader(db, self.tables, self.records, universe)
        self.estimates = RangeEstimates(db, self.records, universe)
        """SQLite range estimates for `where` comparisons on large repositories (`_statistics`)."""
        self._last_miss: tuple[int, tuple[DataIdValue, ...], MissFacts] | None = None
        """The facts read by the last `find_dataset` that found nothing, for `explain_missing`."""

    @cached_property
    def tokens(self) -> Tokens:
        """Bearer tokens of the remote butler's server (`Tokens`); made on first use."""
        return Tokens(self.db, self.tables.server_token)

    @cached_property
    def lineage(self) -> Lineage:
        """Lineage edges: record, walk (`skybutler.registry._provenance`); made on first use."""
        from skybutler.registry._provenance import Lineage

        return Lineage(self.db, self.tables)

    @cached_property
    def runs(self) -> RunRecords:
        """Run records and environments (`skybutler.registry._run_records`); made on first use."""
        from skybutler.registry._run_records import RunRecords

        return RunRecords(self.db, self.tables)

    # -- lifecycle ------------------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        url: str,
        *,
        universe: DimensionUniverse,
        schema: str | None = None,
        busy_timeout: float = 60.0,
    ) -> Registry:
        """Create the tables of a new, empty registry.

        Raises
        ------
        ConflictError
            The database (or PostgreSQL schema) already holds a registry.
        """
        db = Database(url, schema=schema, busy_timeout=busy_timeout)
        try:
            if db.dialect == "postgresql":
                return cls._create_postgresql(db, universe, f"{url}{' schema ' + schema if schema else ''}")
            registry = cls(db, universe)
            with db.transaction() as conn:
                if sa.inspect(conn).has_table("butler_attributes"):
                    from skybutler.errors import ConflictError

                    raise ConflictError(
                        f"A registry already exists at {url}{' schema ' + schema if schema else ''}; "
                        "open it instead, or choose another location."
                    )
                registry.tables.make()
                registry.dimension_tables.make_all()
                _create_tables(conn, registry.metadata)
                version = sa.Table(
                    "alembic_version",
                    sa.MetaData(),
                    sa.Column("version_num", sa.String(32), primary_key=True),
                )
                version.create(conn)
                conn.execute(version.insert().values(version_num=SCHEMA_VERSION))
                conn.execute(
                    registry.tables.attributes.insert(),
                    [
                        {"name": "schema_version", "value": SCHEMA_VERSION},
                        {"name": "universe_namespace", "value": universe.namespace},
                        {"name": "universe_version", "value": str(universe.version)},
                        {"name": "universe", "value": universe.text},
                        {"name": "created", "value": str(time.time_ns())},
                    ],
                )
        except BaseException:
            db.close()
            raise
        return registry

    @classmethod
    def _create_postgresql(cls, db: Database, universe: DimensionUniverse, where: str) -> Registry:
        """`create` on PostgreSQL: schema, tables and first rows in one round trip (`_pg_create`)."""
        from skybutler.registry._pg_create import create_in_one_round_trip

        registry = cls(db, universe)
        registry.tables.make()
        registry.dimension_tables.make_all()
        version = sa.Table("alembic_version", sa.MetaData(), sa.Column("version_num", sa.String(32), primary_key=True))
        attributes: list[tuple[str, ...]] = [
            ("schema_version", SCHEMA_VERSION),
            ("universe_namespace", universe.namespace),
            ("universe_version", str(universe.version)),
            ("universe", universe.text),
            ("created", str(time.time_ns())),
        ]
        inserts: list[tuple[sa.Table, list[tuple[str, ...]]]] = [
            (version, [(SCHEMA_VERSION,)]),
            (registry.tables.attributes, attributes),
        ]
        create_in_one_round_trip(db, [*registry.metadata.sorted_tables, version], inserts, where)
        return registry

    @classmethod
    def open(cls, url: str, *, schema: str | None = None, busy_timeout: float = 60.0) -> Registry:
        """Open an existing registry with the universe stored in it.

        Raises
        ------
        ConfigError
            There is no registry at ``url``.
        MigrationRequiredError
            The registry's schema version differs from this code's.
        """
        if url.startswith("sqlite:///") and "?" not in url:
            # Connecting would create an empty SQLite file (or fail on a missing folder): check first.
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:" and not Path(path).exists():
                raise ConfigError(
                    f"No skybutler registry at {url}: {path} does not exist; "
                    "create one with Butler.create() or `skybutler create`."
                )
        db = Database(url, schema=schema, busy_timeout=busy_timeout)
        try:
            # One statement (on PostgreSQL one round trip, no BEGIN/COMMIT): the attributes, and the version
            # stamp as the row named NULL.  SQL text: a process's first open compiles no SQLAlchemy statement.
            both = sa.text(
                "SELECT name, value FROM butler_attributes UNION ALL SELECT NULL, version_num FROM alembic_version"
            )
            with single_statement_read(db), db.transaction(write=False) as conn:
                try:
                    rows: dict[str | None, str] = {row[0]: row[1] for row in conn.execute(both)}
                    stamped = rows.pop(None, None)
                except sa.exc.DBAPIError:
                    conn.rollback()
                    raise ConfigError(
                        f"No skybutler registry at {url}{' schema ' + schema if schema else ''}; "
                        "create one with Butler.create() or `skybutler create`."
                    ) from None
            if stamped != SCHEMA_VERSION:
                newer = stamped is not None and str(stamped) > SCHEMA_VERSION
                raise MigrationRequiredError(
                    f"The registry schema is version {stamped}, this skybutler expects {SCHEMA_VERSION}: "
                    + ("upgrade skybutler." if newer else "run `skybutler migrate` to upgrade the repository.")
                )
            universe = DimensionUniverse.from_yaml(rows["universe"])
            registry = cls(db, universe)
            registry.collections.generation = int(rows.get("generation", 0))
            return registry
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    def attributes(self) -> dict[str, str]:
        """Every stored attribute (schema version, universe, creation time)."""
        t = self.tables.attributes
        with self.db.transaction(write=False) as conn:
            return {row[0]: row[1] for row in conn.execute(sa.select(t.c.name, t.c.value))}

    # -- dimension records ----------------------------------------------------------------------------------
    def insert_dimension_records(
        self,
        element: str,
        records: Iterable[Mapping[str, Any] | DimensionRecord],
        *,
        skip_existing: bool = False,
    ) -> int:
        """Insert records of ``element`` in one transaction; return how many were new.

        Examples
        --------
        >>> registry.insert_dimension_records("band", [{"name": "i"}])
        1
        """
        self.estimates.forget(element)
        return self.records.insert(element, records, skip_existing=skip_existing)

    def sync_dimension_records(
        self, element: str, record: Mapping[str, Any] | DimensionRecord, *, update: bool = False
    ) -> bool:
        """Insert a record, or verify an identical one exists; return whether it was inserted."""
        self.estimates.forget(element)
        return self.records.sync(element, record, update=update)

    def fetch_dimension_records(
        self, element: str, data_id: DataIdLike | None = None, **kwargs: Any
    ) -> list[DimensionRecord]:
        """Return the records of ``element`` matching the dimension values given (all when none)."""
        where: dict[str, Any] = {}
        if data_id is not None:
            where.update(dict(data_id))
        where.update(kwargs)
        element_obj = self.universe[element]
        if element_obj.is_dimension and element in where:
            where[element_obj.primary_key.name] = where.pop(element)
        return self.records.fetch(element, where)

    # -- data IDs -------------------------------------------------------------------------------------------
    @overload
    def expand_data_id(
        self,
        data_id: DataIdLike | None = ...,
        *,
        dimensions: Iterable[str] | DimensionGroup | None = ...,
        explain: Literal[False] = ...,
        **kwargs: Any,
    ) -> DataCoordinate: ...

    @overload
    def expand_data_id(
        self,
        data_id: DataIdLike | None = ...,
        *,
        dimensions: Iterable[str] | DimensionGroup | None = ...,
        explain: Literal[True],
        **kwargs: Any,
    ) -> ExplainedDataId: ...

    def expand_data_id(
        self,
        data_id: DataIdLike | None = None,
        *,
        dimensions: Iterable[str] | DimensionGroup | None = None,
        explain: bool = False,
        **kwargs: Any,
    ) -> DataCoordinate | ExplainedDataId:
        """Return the expanded data ID: every implied value and every record of its dimensions.

        Parameters
        ----------
        data_id
            A mapping or `DataCoordinate`; more keys as keyword arguments.
        dimensions
            The dimensions of the result; by default those the input names (with what they require and
            imply).
        explain
            Return an `ExplainedDataId` that lists what was added, and from which record.

        Examples
        --------
        >>> registry.expand_data_id(instrument="Cam", visit=1).records["visit"].physical_filter
        'Cam-r'
        """
        from skybutler.dimensions import DimensionGroup as _Group

        given = normalize_data_id(self.universe, data_id, kwargs)
        if dimensions is None:
            group = self.universe.group(given.dimensions())
        elif isinstance(dimensions, _Group):
            group = dimensions
        else:
            group = self.universe.group(dimensions)
        steps: list[str] | None = [] if explain else None
        result = self.resolver.complete(group, given, expand=True, steps=steps)
        if steps is not None:
            return ExplainedDataId(result, given.describe(), steps)
        return result

    def resolve_data_id(
        self, dataset_type: DatasetType, data_id: DataIdLike | None, kwargs: Mapping[str, Any] | None = None
    ) -> DataCoordinate:
        """The data ID of a dataset of ``dataset_type``: its required values, completed from records if needed.

        The butler's path for every put, get and find.  A `DataCoordinate` of exactly the type's dimensions is
        returned as it is, and a larger one is cut down to them, with no database access; input that already
        holds every required primary key is not looked up either.  Only alternate keys (``visit.name``) or
        missing values that records imply cost a query.

        Raises
        ------
        DataIdError
            A key is unknown, a required value is missing, or a record named does not exist.
        """
        group = dataset_type.dimensions
        if isinstance(data_id, DataCoordinate) and not kwargs:
            if data_id.group is group:
                return data_id
            if all(d in data_id for d in group.required):  # a larger data ID: keep what this type needs
                return data_id.subset(group)
        given = normalize_data_id(
            self.universe, data_id, kwargs, group=group, what=f"dataset type {dataset_type.name!r}"
        )
        if len(given.values) == len(group.required) and not given.alternates:
            minimal = given.minimal(group)
            if minimal is not None:
                return minimal
        return self.resolver.complete(group, given)

    # -- finding datasets -------------------------------------------------------------------------------------
    def find_dataset(
        self,
        stored: StoredDatasetType,
        collections: Sequence[str],
        values: tuple[DataIdValue, ...],
        *,
        at: int | None = None,
        as_of: int | None = None,
    ) -> tuple[DatasetRow | None, list[CollectionRecord]]:
        """The first dataset of ``stored`` with required values ``values`` along ``collections``, and the path.

        Returns the row (None: not found) and the non-chain collections searched.  When nothing is found and
        another process changed the collections since they were cached (the generation counter), the path is
        resolved again and searched once more, so a run re-created elsewhere is not missed.
        """
        leaves = self.collections.search_path(collections)
        row = find_first(self.datasets, self.calibrations, stored, leaves, values, at=at, as_of=as_of)
        if row is not None:
            return row, leaves
        # a miss: the generation comes with what explains the miss, in one statement (`MissReader`)
        facts = None if stored.dataset_type.is_calibration else self.misses.read(stored, values)
        generation = self.collections.read_generation() if facts is None else facts.generation
        if self.collections.adopt_generation(generation):
            leaves = self.collections.search_path(collections)
            row = find_first(self.datasets, self.calibrations, stored, leaves, values, at=at, as_of=as_of)
            facts = None  # read before the collections changed: read again if they are needed
        self._last_miss = None if facts is None else (stored.id, values, facts)
        return row, leaves

    def refresh_if_changed(self) -> bool:
        """Forget cached collections and dataset types if another butler (another process, or another of a
        server's pooled butlers) removed any since they were cached; return whether it did (one small read)."""
        if not self.collections.refresh_if_changed():
            return False
        self.dataset_types.forget_cached()
        return True

    def forget_cached(self) -> None:
        """Drop every cached collection and dataset type (the next lookups read the registry)."""
        self.collections.forget_cached()
        self.dataset_types.forget_cached()

    # -- dataset types and collections ---------------------------------------------------------------------
    def register_dataset_type(self, dataset_type: DatasetType) -> bool:
        """Register a dataset type; return whether it was new (an identical one is a no-op)."""
        return self.dataset_types.register(dataset_type)[1]

    def get_dataset_type(self, name: str) -> DatasetType:
        """Return the registered dataset type ``name``."""
        return self.dataset_types.get(name).dataset_type

    def query_dataset_types(self) -> list[DatasetType]:
        """Every registered dataset type, sorted by name."""
        return [s.dataset_type for s in self.dataset_types.all()]

    def register_run(self, name: str, doc: str | None = None) -> bool:
        """Create a RUN collection if it does not exist; return whether it was created."""
        return self.collections.register(name, CollectionType.RUN, doc)[1]

    def get_collection(self, name: str) -> CollectionRecord:
        """Return the collection named ``name`` (its id, type and doc)."""
        return self.collections.get(name)

    def query_collections(self) -> list[CollectionRecord]:
        """Every collection, sorted by name."""
        return self.collections.all()

    # -- provenance -----------------------------------------------------------------------------------------
    def record_provenance(
        self,
        run: CollectionRecord,
        *,
        edges: Mapping[uuid.UUID, tuple[str, Sequence[uuid.UUID]]] | None = None,
        environments: Sequence[Environment] = (),
        info: Mapping[str, Any] | None = None,
        env_ids: Sequence[int] = (),
        recorded: int | None = None,
        fresh: bool = False,
    ) -> None:
        """Record what made datasets of ``run``, in the caller's transaction (or one of its own).

        For writers other than a direct put (which writes its inputs with its datasets, `Datasets.insert`, and
        its run's record here): the merge of database-free workers' outputs records each output's inputs
        together with every worker's environment, the server a remote put's inputs and writer.  ``edges`` maps an
        output ID to its dataset type name and input IDs (inputs must be registered; a cycle is refused);
        ``environments`` are stored once each (by content) and linked to the run, as are ``env_ids`` (already
        stored); ``info`` (host, user_name, command, cwd, started, config) makes the run's record unless it
        has one.  ``fresh``: the outputs have new random IDs, so no cycle is possible (see `Lineage.add`).

        Raises
        ------
        DatasetNotFoundError
            An input is not registered.
        ConflictError
            An edge would make a cycle.
        """
        with self.db.transaction():
            ids = [*env_ids, *(self.runs.store_environment(env) for env in environments)]
            if info is not None or ids:
                base = info if info is not None else _unknown_origin()
                for env_id in ids or [None]:  # type: ignore[list-item]
                    self.runs.ensure(run.id, base, env_id)
            if edges:
                self.lineage.add(edges, tai_now() if recorded is None else recorded, fresh=fresh)

    # -- explanations -----------------------------------------------------------------------------------------
    def explain_insert_failure(
        self,
        stored: StoredDatasetType,
        run: CollectionRecord,
        data_ids: Sequence[DataCoordinate],
        exc: sa.exc.IntegrityError,
    ) -> ConflictError | DataIdError:
        """The error to raise for a refused dataset insert: the existing dataset, or the unknown record."""
        return explain_insert_failure(self.datasets, self.resolver, stored, run, data_ids, exc)

    def explain_missing(
        self, stored: StoredDatasetType, data_id: DataCoordinate, searched: Sequence[str]
    ) -> DatasetNotFoundError:
        """The error to raise when a lookup finds nothing: where else it is, or which record is unknown."""
        values = data_id.required_values
        last, self._last_miss = self._last_miss, None
        facts = last[2] if last is not None and last[:2] == (stored.id, values) else self.misses.read(stored, values)
        return explain_missing(self.collections, self.universe, stored, data_id, searched, facts)


def _unknown_origin() -> dict[str, Any]:
    """The origin of a run whose writer did not say (a merge with environments only): "now", by nobody known."""
    return {"host": "", "user_name": "", "command": "", "cwd": "", "started": time.time_ns(), "config": None}


def _create_tables(conn: sa.Connection, metadata: sa.MetaData) -> None:
    """Create every table and index of ``metadata`` in a new, empty registry (inside the caller's transaction).

    The statements are SQLAlchemy's own ``CREATE TABLE`` / ``CREATE INDEX`` (so the schema is the one
    ``metadata.create_all`` makes: tests/registry/test_lifecycle.py compares it with the migrations'), compiled
    once and sent without ``create_all``'s check of each table's existence (the caller has checked that the
    registry is new): one statement after the other on SQLite, all in one round trip on PostgreSQL.
    """
    dialect = conn.dialect
    ddl: list[str] = []
    for table in metadata.sorted_tables:
        ddl.append(str(sa.schema.CreateTable(table).compile(dialect=dialect)).strip())
        ddl += [str(sa.schema.CreateIndex(index).compile(dialect=dialect)).strip() for index in table.indexes]
    if dialect.name == "postgresql":
        conn.exec_driver_sql(";\n".join(ddl))
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for statement in ddl:
            cursor.execute(statement)
    finally:
        cursor.close()
