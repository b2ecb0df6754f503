"""Collections: names ↔ ids and types, cached in memory (RUN collections in this version)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.errors import CollectionError, ConflictError
from skybutler.registry._single_reads import single_statement_read

if TYPE_CHECKING:
    from skybutler.registry._engines import Database
    from skybutler.registry._schema import StaticTables

__all__ = ["CollectionRecord", "CollectionType", "Collections", "is_glob"]


def is_glob(name: str) -> bool:
    """Whether a collection or dataset type name is a glob pattern (has ``*``, ``?`` or ``[``)."""
    return any(ch in name for ch in "*?[")


class CollectionType(enum.IntEnum):
    """What a collection is."""

    RUN = 1
    """Where datasets are born; one dataset per dataset type and data ID."""
    TAGGED = 2
    """A free association of existing datasets."""
    CHAINED = 3
    """An ordered search path of other collections."""
    CALIBRATION = 4
    """Datasets associated with validity ranges."""


@dataclass(frozen=True, slots=True)
class CollectionRecord:
    """One collection as the registry knows it."""

    id: int
    name: str
    type: CollectionType
    doc: str | None = None


# A process's first registration or look-up compiles no SQLAlchemy statement (`Database.one_row`); the columns
# are those of `StaticTables.collection` (tests/registry/test_registration_sql.py checks them against it).
_FIND = 'SELECT collection_id, name, "type", doc FROM collection WHERE name = :name'
_INSERT = (
    'INSERT INTO collection (name, "type", doc) VALUES (:name, :type, :doc) ON CONFLICT (name) DO NOTHING '
    'RETURNING collection_id, name, "type", doc'
)


class Collections:
    """Register and look up collections; lookups are cached (collections are never renamed)."""

    def __init__(self, db: Database, tables: StaticTables) -> None:
        self._db = db
        self._tables = tables  # asked for when first needed: registering and finding need none (`StaticTables`)
        self._by_name: dict[str, CollectionRecord] = {}
        self._by_id: dict[int, CollectionRecord] = {}
        self._paths: dict[tuple[str, ...], list[CollectionRecord]] = {}
        self.generation = 0
        """The registry generation these caches reflect (read at open; see `refresh_if_changed`)."""

    @property
    def _table(self) -> sa.Table:
        return self._tables.collection

    @property
    def _chain(self) -> sa.Table:
        return self._tables.collection_chain

    @property
    def _attributes(self) -> sa.Table:
        return self._tables.attributes

    @cached_property
    def _generation_stmt(self) -> sa.Select[tuple[str]]:
        a = self._attributes
        return sa.select(a.c.value).where(a.c.name == "generation")

    # -- cross-process cache safety ---------------------------------------------------------------------------
    def read_generation(self) -> int:
        """The registry's generation: bumped by every change that can make a cached lookup wrong.

        One cached statement (`Database.read_rows`): a server checks it before every write request.
        """
        rows = self._db.read_rows(self._generation_stmt, {})
        return int(rows[0][0] or 0) if rows else 0

    def bump_generation(self, conn: sa.Connection) -> None:
        """Bump the registry's generation in the caller's transaction: cached lookups elsewhere are stale."""
        a = self._attributes
        current = conn.execute(sa.select(a.c.value).where(a.c.name == "generation")).scalar()
        if current is None:
            conn.execute(a.insert().values(name="generation", value="1"))
        else:
            conn.execute(a.update().where(a.c.name == "generation").values(value=str(int(current) + 1)))

    def refresh_if_changed(self) -> bool:
        """Forget cached collections if another process changed them; return whether it did."""
        return self.adopt_generation(self.read_generation())

    def adopt_generation(self, current: int) -> bool:
        """Forget cached collections if ``current`` (the registry's generation, read) is not theirs."""
        if current == self.generation:
            return False
        self.generation = current
        self.forget_cached()
        return True

    def forget_cached(self) -> None:
        """Drop every cached lookup (after a rolled-back transaction that registered collections)."""
        self._by_name.clear()
        self._by_id.clear()
        self._paths.clear()

    def _remember(self, row: Any) -> CollectionRecord:
        record = CollectionRecord(row[0], row[1], CollectionType(row[2]), row[3])
        self._by_name[record.name] = record
        self._by_id[record.id] = record
        return record

    def register(
        self, name: str, collection_type: CollectionType, doc: str | None = None
    ) -> tuple[CollectionRecord, bool]:
        """Create the collection if it does not exist; return it and whether it was created.

        Raises
        ------
        ConflictError
            A collection of that name exists with another type.
        """
        if not name or type(name) is not str or len(name) > 256 or "\x00" in name:
            raise CollectionError(f"Invalid collection name {name!r}: give 1 to 256 characters, none of them NUL.")
        found = self.find(name)
        created = False
        if found is None:
            # RETURNING: no second look-up for the new row's id; one statement, so no BEGIN/COMMIT around it
            row = self._db.one_row(_INSERT, {"name": name, "type": int(collection_type), "doc": doc}, write=True)
            self._by_name.pop(name, None)
            found = self.find(name) if row is None else self._remember(row)  # None: another process made it
            assert found is not None
            created = row is not None and found.type == collection_type
        if found.type != collection_type:
            raise ConflictError(
                f"Collection {name!r} already exists as a {found.type.name} collection, not {collection_type.name}."
            )
        return found, created

    def find(self, name: str) -> CollectionRecord | None:
        """Return the collection named ``name``, or ``None``."""
        found = self._by_name.get(name)
        if found is not None:
            return found
        if "\x00" in name:  # no collection has one (see `register`), and PostgreSQL refuses it even in a query
            return None
        row = self._db.one_row(_FIND, {"name": name})
        return None if row is None else self._remember(row)

    def get(self, name: str) -> CollectionRecord:
        """Return the collection named ``name``.

        Raises
        ------
        CollectionError
            There is no such collection; the message lists the closest names.
        """
        found = self.find(name)
        if found is None:
            import difflib

            close = difflib.get_close_matches(name, self.names(), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise CollectionError(f"No collection named {name!r}.{hint}")
        return found

    def by_id(self, collection_id: int) -> CollectionRecord:
        """Return the collection with this id."""
        found = self._by_id.get(collection_id)
        if found is None:
            t = self._table
            with single_statement_read(self._db), self._db.transaction(write=False) as conn:
                row = conn.execute(
                    sa.select(t.c.collection_id, t.c.name, t.c.type, t.c.doc).where(t.c.collection_id == collection_id)
                ).one()
            found = self._remember(row)
        return found

    def resolve(self, names: Iterable[str]) -> list[CollectionRecord]:
        """Return the collections of a search path, in order, without duplicates.

        A name with glob characters (``*?[``) stands for every collection it matches, sorted by name; it may
        match none.  A plain name must exist (`MissingCollectionError` otherwise).
        """
        out: list[CollectionRecord] = []
        for name in names:
            for record in self.query(name) if is_glob(name) else [self.get(name)]:
                if record not in out:
                    out.append(record)
        return out

    def search_path(self, names: Sequence[str]) -> list[CollectionRecord]:
        """The ordered non-chain collections a search path stands for (chains expanded, globs matched).

        A path of plain names with no chain among them is cached: those records change only by this
        manager's own writes (`remove`, `set_doc`: the cache is dropped) or another process's (the generation
        counter, `refresh_if_changed`).  Chains can be redefined without a generation bump and globs match
        new collections, so a path with either is resolved afresh each time.

        Raises
        ------
        CollectionError
            A plain name is not a collection.
        """
        key = tuple(names)
        found = self._paths.get(key)
        if found is not None:
            return found
        records = self.resolve(names)
        if any(r.type is CollectionType.CHAINED for r in records) or any(is_glob(n) for n in names):
            return self.flatten(names)
        self._paths[key] = records
        return records

    def names(self) -> list[str]:
        """Every collection name, sorted."""
        t = self._table
        with self._db.transaction(write=False) as conn:
            return sorted(conn.execute(sa.select(t.c.name)).scalars())

    def all(self) -> list[CollectionRecord]:
        """Every collection, sorted by name."""
        t = self._table
        with self._db.transaction(write=False) as conn:
            rows = conn.execute(sa.select(t.c.collection_id, t.c.name, t.c.type, t.c.doc)).all()
        return sorted((self._remember(r) for r in rows), key=lambda r: r.name)

    # -- documentation ----------------------------------------------------------------------------------------
    def set_doc(self, name: str, doc: str | None) -> None:
        """Replace a collection's documentation string."""
        record = self.get(name)
        t = self._table
        with self._db.transaction() as conn:
            conn.execute(t.update().where(t.c.collection_id == record.id).values(doc=doc))
        self._forget(record)

    def _forget(self, record: CollectionRecord) -> None:
        self._by_name.pop(record.name, None)
        self._by_id.pop(record.id, None)
        self._paths.clear()

    # -- chains -----------------------------------------------------------------------------------------------
    def children(self, name: str) -> list[str]:
        """The ordered children of a CHAINED collection."""
        record = self.get(name)
        if record.type is not CollectionType.CHAINED:
            raise CollectionError(f"Collection {name!r} is {record.type.name}, not CHAINED; it has no children.")
        return [self.by_id(i).name for i in self._child_ids(record.id)]

    def _child_ids(self, parent_id: int) -> list[int]:
        c = self._chain
        stmt = sa.select(c.c.child_id).where(c.c.parent_id == parent_id).order_by(c.c.position)
        with self._db.transaction(write=False) as conn:
            return list(conn.execute(stmt).scalars())

    def set_chain(self, name: str, children: Sequence[str]) -> None:
        """Define (or redefine) the ordered children of a CHAINED collection.

        Raises
        ------
        CollectionError
            ``name`` is not CHAINED, a child does not exist, or the chain would contain itself.
        """
        record = self.get(name)
        if record.type is not CollectionType.CHAINED:
            raise CollectionError(f"Collection {name!r} is {record.type.name}, not CHAINED; it cannot have children.")
        kids = self.resolve(children)
        c = self._chain
        with self._db.transaction() as conn:
            self._db.lock_ddl(conn, "collection_chain")
            for kid in kids:
                path = self._path_to(kid, record.id)
                if path is not None:
                    raise CollectionError(
                        f"Cannot put {kid.name!r} in chain {name!r}: that makes a cycle ({' → '.join([name, *path])})."
                    )
            conn.execute(c.delete().where(c.c.parent_id == record.id))
            if kids:
                rows = [{"parent_id": record.id, "position": i, "child_id": k.id} for i, k in enumerate(kids)]
                conn.execute(c.insert(), rows)

    def _path_to(self, start: CollectionRecord, target_id: int) -> list[str] | None:
        """The names from ``start`` down to the collection ``target_id`` through chains, or None."""
        if start.id == target_id:
            return [start.name]
        if start.type is not CollectionType.CHAINED:
            return None
        for child_id in self._child_ids(start.id):
            path = self._path_to(self.by_id(child_id), target_id)
            if path is not None:
                return [start.name, *path]
        return None

    def flatten(self, names: Iterable[str]) -> list[CollectionRecord]:
        """Expand chains depth-first into the ordered, de-duplicated list of non-chain collections."""
        out: list[CollectionRecord] = []
        seen: set[int] = set()

        def walk(record: CollectionRecord) -> None:
            if record.type is CollectionType.CHAINED:
                for child_id in self._child_ids(record.id):
                    walk(self.by_id(child_id))
            elif record.id not in seen:
                seen.add(record.id)
                out.append(record)

        for record in self.resolve(names):
            walk(record)
        return out

    def parents(self, name: str) -> list[str]:
        """The chains that list ``name`` as a child."""
        record = self.get(name)
        c = self._chain
        with self._db.transaction(write=False) as conn:
            ids = list(conn.execute(sa.select(c.c.parent_id).where(c.c.child_id == record.id)).scalars())
        return sorted(self.by_id(i).name for i in set(ids))

    # -- query and removal ------------------------------------------------------------------------------------
    def query(
        self, pattern: str | Iterable[str] = "*", types: Iterable[CollectionType] | None = None
    ) -> list[CollectionRecord]:
        """Collections whose name matches a glob pattern (or any of several), optionally of given types."""
        import fnmatch

        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        wanted = set(types) if types is not None else None
        return [
            r
            for r in self.all()
            if any(fnmatch.fnmatchcase(r.name, p) for p in patterns) and (wanted is None or r.type in wanted)
        ]

    def remove(self, name: str) -> None:
        """Remove a TAGGED, CHAINED or CALIBRATION collection (its associations, not its datasets).

        RUN collections are removed with their datasets by the butler (``remove_runs``), which deletes the
        files through the trash first.

        Raises
        ------
        CollectionError
            The collection is a RUN still holding datasets, or a chain lists it.
        """
        record = self.get(name)
        parents = self.parents(name)
        if parents:
            raise CollectionError(f"Collection {name!r} is a child of {parents}; remove it from those chains first.")
        t, c = self._table, self._chain
        with self._db.transaction() as conn:
            self.bump_generation(conn)
            conn.execute(c.delete().where(c.c.parent_id == record.id))
            try:
                conn.execute(t.delete().where(t.c.collection_id == record.id))
            except sa.exc.IntegrityError:
                raise CollectionError(
                    f"Collection {name!r} still holds datasets or associations; remove them first."
                ) from None
        self._forget(record)
