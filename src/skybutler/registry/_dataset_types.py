"""Dataset types in the registry: register (idempotent), look up (cached), and their tags tables."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.datasets import DatasetType
from skybutler.errors import DatasetTypeError
from skybutler.registry._template import TableDdl

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from skybutler.dimensions import DimensionGroup, DimensionUniverse
    from skybutler.registry._engines import Database
    from skybutler.registry._schema import DimensionTables, StaticTables

__all__ = ["DatasetTypes", "StoredDatasetType", "same_definition"]


def same_definition(registered: DatasetType, given: DatasetType) -> bool:
    """Whether ``given`` may be registered where ``registered`` is: equal, and no other format asked for.

    A type given without a format (``format=None``) expresses no choice, so it matches whatever format was
    registered; one given with a format needs that same format.
    """
    return registered == given and given.format in (None, registered.format)


# A process's first registration or look-up compiles no SQLAlchemy statement (`Database.one_row`); the columns
# are those of `StaticTables.dataset_type` (tests/registry/test_registration_sql.py checks them against it).
_COLUMNS = "dataset_type_id, name, dimensions, storage_class, is_calibration, tag_table, format"
_FIND = f"SELECT {_COLUMNS} FROM dataset_type WHERE name = :name"
_INSERT = (
    "INSERT INTO dataset_type (name, dimensions, storage_class, is_calibration, tag_table, format) "
    "VALUES (:name, :dimensions, :storage_class, :is_calibration, :tag_table, :format) "
    f"ON CONFLICT (name) DO NOTHING RETURNING {_COLUMNS}"
)


class _Tables:
    """A type's tags and calibration `Table` objects, made on first use (see `StoredDatasetType`)."""

    __slots__ = ("_made", "_make")

    def __init__(self, make: Callable[[], tuple[sa.Table, sa.Table | None]]) -> None:
        self._make = make
        self._made: tuple[sa.Table, sa.Table | None] | None = None

    def get(self) -> tuple[sa.Table, sa.Table | None]:
        if self._made is None:
            self._made = self._make()
        return self._made


@dataclass(frozen=True, slots=True)
class StoredDatasetType:
    """A registered dataset type with its registry id and the tags table holding its datasets.

    The SQLAlchemy tables are made when first asked for: a type registered (or looked up) by a process that
    never reads or writes its datasets needs neither, and making one costs about 2 ms.
    """

    dataset_type: DatasetType
    id: int
    tag_table: str
    """Name of the tags table (`tags`)."""
    calib_table: str | None
    """Name of the certification table (`calibs`), for calibration dataset types."""
    _tables: _Tables = field(compare=False, repr=False)

    @property
    def tags(self) -> sa.Table:
        """The membership table of the type's datasets (shared by the types with the same dimensions)."""
        return self._tables.get()[0]

    @property
    def calibs(self) -> sa.Table | None:
        """Certification rows, for calibration dataset types."""
        return self._tables.get()[1]


class DatasetTypes:
    """Register and find dataset types.

    Lookups are cached per registry: dataset types are never redefined in place, so a cached definition
    stays right; a name not in the cache is looked up in the database (another process may have added it).
    """

    def __init__(
        self,
        db: Database,
        tables: StaticTables,
        metadata: sa.MetaData,
        universe: DimensionUniverse,
        dimension_tables: DimensionTables,
    ) -> None:
        self._db = db
        self.on_remove: Callable[[sa.Connection], None] | None = None
        """Called in a removal's transaction (the registry bumps its generation: other caches are stale)."""
        self._dimension_tables = dimension_tables
        self._static = tables  # asked for when first needed: registering and finding need none (`StaticTables`)
        self._metadata = metadata
        self._universe = universe
        self._cache: dict[str, StoredDatasetType] = {}
        self._existing: set[str] = set()
        """Tags and calibration tables known to exist in the database (those of registered types: never dropped)."""
        self._ddl = TableDdl(universe)

    @property
    def _table(self) -> sa.Table:
        return self._static.dataset_type

    @property
    def _datasets(self) -> sa.Table:
        return self._static.dataset

    def _tags(self, group: DimensionGroup, name: str) -> sa.Table:
        from skybutler.registry._schema import tags_table

        self._static.make()  # the tables its foreign keys name
        existing = self._metadata.tables.get(name)
        return existing if existing is not None else tags_table(self._metadata, self._universe, group, name)

    @staticmethod
    def _calibs_name(tag_name: str) -> str:
        name = tag_name.replace("dataset_tags_", "dataset_calibs_", 1)
        if len(name) + len("_recorded") > 63:  # PostgreSQL identifiers (and our index names) stop at 63
            import hashlib

            name = "dataset_calibs_" + hashlib.sha1(tag_name.encode()).hexdigest()[:16]
        return name

    def _calibs(self, group: DimensionGroup, tag_name: str) -> sa.Table:
        from skybutler.registry._schema import calibs_table

        name = self._calibs_name(tag_name)
        self._static.make()  # the tables its foreign keys name
        existing = self._metadata.tables.get(name)
        return existing if existing is not None else calibs_table(self._metadata, self._universe, group, name)

    def _create(self, conn: sa.Connection, name: str, make: Callable[[], sa.Table]) -> None:
        """Create table ``name`` (a tags or calibration table; ``make`` makes its `Table`) unless it exists.

        On SQLite the statements are those kept by an earlier process (`TableDdl`) when there are any: then
        neither the table, nor the element tables its foreign keys name, nor its DDL need making here.
        """
        if self._db.dialect != "sqlite":
            table = make()
            self._dimension_tables.make_referenced(table)  # the foreign keys' targets, for the DDL
            table.create(conn, checkfirst=True)
            return
        statements = self._ddl.get(name)
        if statements is None:
            table = make()
            self._dimension_tables.make_referenced(table)
            statements = [str(sa.schema.CreateTable(table).compile(dialect=conn.dialect)).strip()]
            ordered = sorted(table.indexes, key=lambda i: str(i.name))
            statements += [str(sa.schema.CreateIndex(i).compile(dialect=conn.dialect)).strip() for i in ordered]
            self._ddl.keep(name, statements)
        raw = conn.connection.driver_connection  # plain text: SQLAlchemy's execution would only pass it on
        assert raw is not None
        exists = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        if raw.execute(exists, (name,)).fetchone() is None:
            for statement in statements:
                raw.execute(statement)

    def _from_row(self, row: Any) -> StoredDatasetType:
        dataset_type = DatasetType(
            row[1], json.loads(row[2]), row[3], universe=self._universe, is_calibration=bool(row[4]), format=row[6]
        )  # bool: SQLite's driver gives 0 or 1 (`Database.one_row`)
        group, tag_name = dataset_type.dimensions, row[5]
        calib_name = self._calibs_name(tag_name) if dataset_type.is_calibration else None

        def make() -> tuple[sa.Table, sa.Table | None]:
            calibs = self._calibs(group, tag_name) if calib_name is not None else None
            return self._tags(group, tag_name), calibs

        stored = StoredDatasetType(dataset_type, row[0], tag_name, calib_name, _Tables(make))
        self._cache[dataset_type.name] = stored
        self._existing.update(n for n in (tag_name, calib_name) if n is not None)
        return stored

    def forget_cached(self) -> None:
        """Drop every cached definition (after a rolled-back transaction that registered dataset types)."""
        self._cache.clear()
        self._existing.clear()  # the tables it created are gone with it

    def _select(self) -> sa.Select[tuple[int, str, str, str, bool, str, str | None]]:
        t = self._table
        return sa.select(t.c.dataset_type_id, t.c.name, t.c.dimensions, t.c.storage_class, t.c.is_calibration,
                         t.c.tag_table, t.c.format)  # fmt: skip

    def find(self, name: str) -> StoredDatasetType | None:
        """Return the registered dataset type ``name`` (a parent name), or ``None``."""
        found = self._cache.get(name)
        if found is not None:
            return found
        row = self._db.one_row(_FIND, {"name": name})
        return None if row is None else self._from_row(row)

    def missing(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` (parent names) not registered, in their order: one query for all not cached."""
        wanted = [n for n in dict.fromkeys(names) if n not in self._cache]
        if not wanted:
            return []
        found: set[str] = set()
        with self._db.transaction(write=False) as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                found.update(conn.execute(sa.select(self._table.c.name).where(self._table.c.name.in_(chunk))).scalars())
        return [n for n in wanted if n not in found]

    def get(self, name: str) -> StoredDatasetType:
        """Return the registered dataset type ``name``.

        Raises
        ------
        DatasetTypeError
            It is not registered; the message lists the closest registered names.
        """
        found = self.find(name)
        if found is None:
            import difflib

            names = [d.dataset_type.name for d in self.all()]
            close = difflib.get_close_matches(name, names, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise DatasetTypeError(
                f"Dataset type {name!r} is not registered.{hint} Register it with register_dataset_type()."
            )
        return found

    def resolve(self, dataset_type: str | DatasetType) -> tuple[StoredDatasetType, str | None]:
        """The registered parent type of a name (``parent.component`` allowed) or `DatasetType`, and the component.

        A `DatasetType` given must equal the registered one; a component must be one of its storage class's.

        Raises
        ------
        DatasetTypeError
            The type is not registered, differs from the registered one, or has no such component.
        """
        name = dataset_type if isinstance(dataset_type, str) else dataset_type.name
        parent, _, component = name.partition(".")
        stored = self.get(parent)
        if not isinstance(dataset_type, str) and component == "" and stored.dataset_type != dataset_type:
            raise DatasetTypeError(
                f"The dataset type given, {dataset_type.describe()}, differs from the registered "
                f"{stored.dataset_type.describe()}."
            )
        if component:
            from skybutler.datasets import storage_classes

            sc = storage_classes.get(stored.dataset_type.storage_class)
            if component not in sc.components:
                raise DatasetTypeError(
                    f"Storage class {sc.name!r} of {parent!r} has no component {component!r}; "
                    f"components: {sorted(sc.components) or 'none'}."
                )
        return stored, component or None

    def register(self, dataset_type: DatasetType) -> tuple[StoredDatasetType, bool]:
        """Register ``dataset_type``; return it and whether it was new (identical re-registration is a no-op).

        Raises
        ------
        DatasetTypeError
            A dataset type of that name exists with another definition or another format, or the name is a
            component.  A type given without a format matches a registered one whatever its format (the
            registered format is kept); a type given with a format needs the very same registered format.
        """
        if dataset_type.component is not None:
            raise DatasetTypeError(
                f"Cannot register the component {dataset_type.name!r}; register its parent "
                f"{dataset_type.parent_name!r} (components come with their storage class)."
            )
        existing = self.find(dataset_type.name)
        if existing is None:
            group = dataset_type.dimensions
            tag_name = f"dataset_tags_{group.key}"
            if len(tag_name) > 63 - len("_data_id"):  # PostgreSQL's limit, for the table's index name too
                import hashlib

                tag_name = "dataset_tags_" + hashlib.sha1(group.key.encode()).hexdigest()[:16]
            names = [tag_name, *([self._calibs_name(tag_name)] if dataset_type.is_calibration else [])]
            values = {
                "name": dataset_type.name,
                "dimensions": json.dumps(list(group.required)),
                "storage_class": dataset_type.storage_class,
                "is_calibration": dataset_type.is_calibration,
                "tag_table": tag_name,
                "format": dataset_type.format,
            }
            # Tables of a type registered before exist: no existence check, no DDL compiled (W1's second type of
            # the same dimensions, register of a type other processes have).
            missing = not set(names) <= self._existing
            if not missing:
                row = self._db.one_row(_INSERT, values, write=True)  # one statement: no BEGIN/COMMIT around it
            elif self._db.dialect == "postgresql" and not self._db._depth:
                insert = sa.text(_INSERT).bindparams(**values)
                row = self._pg_create_and_insert(group, tag_name, len(names) > 1, insert)
            else:
                with self._db.transaction() as conn:
                    self._db.lock_ddl(conn, "dataset_tags")
                    self._create(conn, tag_name, lambda: self._tags(group, tag_name))
                    if len(names) > 1:
                        self._create(conn, names[1], lambda: self._calibs(group, tag_name))
                    row = self._db.one_row(_INSERT, values, write=True)  # in this transaction
            # RETURNING gives the new row (no second look-up); None: another process registered the name first
            existing = self.find(dataset_type.name) if row is None else self._from_row(row)
            assert existing is not None
            if same_definition(existing.dataset_type, dataset_type):
                return existing, True
        if not same_definition(existing.dataset_type, dataset_type):
            raise DatasetTypeError(
                f"Dataset type {dataset_type.name!r} is already registered as "
                f"{existing.dataset_type.describe()}; cannot redefine it as {dataset_type.describe()}. "
                "Use another name, or remove the old type first (a format cannot be changed in place: files "
                "written in the old one would stay)."
            )
        return existing, False

    def _pg_create_and_insert(self, group: DimensionGroup, tag_name: str, calibration: bool, insert: Any) -> Any:
        """PostgreSQL, outside a caller's transaction: create the type's tables if missing and run ``insert``,
        serialized with other DDL, in one round trip (`create_and_insert`)."""
        from skybutler.registry._pg_create import create_and_insert

        tables = [self._tags(group, tag_name), *([self._calibs(group, tag_name)] if calibration else [])]
        for table in tables:
            self._dimension_tables.make_referenced(table)  # the foreign keys' targets, for the DDL
        return create_and_insert(self._db, "ddl:dataset_tags", tables, insert)

    def remove(self, name: str) -> None:
        """Remove a registered dataset type that has no datasets.

        The tags and certification tables stay: other dataset types with the same dimensions share them.

        Raises
        ------
        DatasetTypeError
            It is not registered.
        ConflictError
            Datasets of it still exist (remove them first: removing a type never removes data).
        """
        from skybutler.errors import ConflictError

        stored = self.get(name)
        t = self._table
        with self._db.transaction() as conn:
            d = self._datasets
            count = conn.execute(
                sa.select(sa.func.count()).select_from(d).where(d.c.dataset_type_id == stored.id)
            ).scalar_one()
            if count:
                raise ConflictError(
                    f"Dataset type {name!r} still has {count} dataset(s); remove them first "
                    "(prune-datasets or remove-runs), then remove the type."
                )
            conn.execute(t.delete().where(t.c.dataset_type_id == stored.id))
            if self.on_remove is not None:
                self.on_remove(conn)
        self._cache.pop(name, None)

    def all(self) -> list[StoredDatasetType]:
        """Every registered dataset type, sorted by name."""
        with self._db.transaction(write=False) as conn:
            rows = conn.execute(self._select()).all()
        return sorted((self._from_row(r) for r in rows), key=lambda s: s.dataset_type.name)

    def by_id(self, dataset_type_id: int) -> StoredDatasetType:
        """Return the dataset type with this registry id."""
        for stored in self._cache.values():
            if stored.id == dataset_type_id:
                return stored
        with self._db.transaction(write=False) as conn:
            row = conn.execute(self._select().where(self._table.c.dataset_type_id == dataset_type_id)).one()
        return self._from_row(row)
