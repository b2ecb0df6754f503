"""Collections: names ↔ ids and types, cached in memory (RUN collections in this version)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.errors import CollectionError, ConflictError

if TYPE_CHECKING:
    from skybutler.registry._engines import Database
    from skybutler.registry._schema import StaticTables

__all__ = ["CollectionRecord", "CollectionType", "Collections"]


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


class Collections:
    """Register and look up collections; lookups are cached (collections are never renamed)."""

    def __init__(self, db: Database, tables: StaticTables) -> None:
        self._db = db
        self._table = tables.collection
        self._by_name: dict[str, CollectionRecord] = {}
        self._by_id: dict[int, CollectionRecord] = {}

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
        if not name or type(name) is not str or len(name) > 256:
            raise CollectionError(f"Invalid collection name {name!r}: give 1 to 256 characters.")
        found = self.find(name)
        created = False
        if found is None:
            t = self._table
            with self._db.transaction() as conn:
                conn.execute(self._db.insert_ignore(t, ["name"]).values(name=name, type=int(collection_type), doc=doc))
            self._by_name.pop(name, None)
            found = self.find(name)
            assert found is not None
            created = found.type == collection_type
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
        t = self._table
        with self._db.transaction(write=False) as conn:
            row = conn.execute(
                sa.select(t.c.collection_id, t.c.name, t.c.type, t.c.doc).where(t.c.name == name)
            ).first()
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
            with self._db.transaction(write=False) as conn:
                row = conn.execute(
                    sa.select(t.c.collection_id, t.c.name, t.c.type, t.c.doc).where(t.c.collection_id == collection_id)
                ).one()
            found = self._remember(row)
        return found

    def resolve(self, names: Iterable[str]) -> list[CollectionRecord]:
        """Return the collections of a search path, in order, without duplicates."""
        out: list[CollectionRecord] = []
        for name in names:
            record = self.get(name)
            if record not in out:
                out.append(record)
        return out

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
