"""What a lookup that found nothing needs to say why, read in one statement (one round trip, one snapshot).

A miss used to send six reads after its find: the registry generation (are the cached collections stale?),
the collections that hold the dataset elsewhere, one probe per required dimension record and, for the first
unknown record, a few known values as a hint.  On PostgreSQL each was a round trip (issue 26 part 2), and
being separate statements they could see a concurrent remove half-way.  `MissFacts.read` asks all of it in
one ``UNION ALL`` statement, each branch tagged by a ``kind`` column, so one snapshot answers it all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from skybutler.dimensions import DataIdValue, DimensionUniverse
    from skybutler.registry._dataset_types import StoredDatasetType
    from skybutler.registry._dimensions import DimensionRecords
    from skybutler.registry._engines import Database
    from skybutler.registry._schema import StaticTables

__all__ = ["HINTS", "HOLDERS", "MissFacts", "MissReader"]

HOLDERS = 20
"""Collections holding the dataset elsewhere that a message names, at most."""
HINTS = 11
"""Known values of an unknown record's dimension read for a hint (ten shown, and whether there are more)."""
_GENERATION, _HOLDER, _KNOWN, _HINT = 0, 1, 2, 3


@dataclass
class MissFacts:
    """The registry's answers for a missed lookup of one dataset type and data ID."""

    generation: int
    holders: list[int]
    """Collections holding a dataset of this type and data ID (at most `HOLDERS`)."""
    known: set[str]
    """Required dimensions whose record exists."""
    hints: dict[str, list[Any]] = field(default_factory=dict)
    """For each required dimension with no record: known values under its parents (sorted, `HINTS` at most)."""


class MissReader:
    """Builds (once per dataset type) and runs the statement of `MissFacts`."""

    def __init__(
        self, db: Database, tables: StaticTables, records: DimensionRecords, universe: DimensionUniverse
    ) -> None:
        self._db = db
        self._tables = tables
        self._records = records
        self._universe = universe
        self._statements: dict[str, tuple[Any, list[str]]] = {}

    def read(self, stored: StoredDatasetType, values: tuple[DataIdValue, ...]) -> MissFacts:
        """The facts of a miss of ``stored`` with required values ``values``: one statement."""
        stmt, elements = self._statement(stored)
        dims = stored.dataset_type.dimensions.required
        params: dict[str, Any] = {"dt": stored.id}
        params.update((f"v_{d}", v) for d, v in zip(dims, values, strict=True))
        facts = MissFacts(0, [], set())
        for row in self._db.read_rows(stmt, params):
            kind = row[0]
            if kind == _GENERATION:
                facts.generation = int(row[1] or 0)
            elif kind == _HOLDER:
                facts.holders.append(row[2])
            elif kind >= _HINT and (kind - _HINT) % 2 == 0:
                facts.known.add(elements[(kind - _HINT) // 2])
            else:
                i = (kind - _HINT) // 2
                facts.hints.setdefault(elements[i], []).append(row[3 + i])
        for values_ in facts.hints.values():
            values_.sort()
        return facts

    def _statement(self, stored: StoredDatasetType) -> tuple[Any, list[str]]:
        found = self._statements.get(stored.tags.name)
        if found is not None:
            return found
        tags, attrs = stored.tags, self._tables.attributes
        dims = stored.dataset_type.dimensions.required
        elements = [d for d in dims if not self._universe[d].is_skypix]
        key_types = [self._records.table(e).c[self._universe[e].primary_key.name].type for e in elements]

        def row(kind: int, gen: Any = None, holder: Any = None, key: tuple[int, Any] | None = None) -> list[Any]:
            keys = [sa.cast(sa.null(), t) for t in key_types]
            if key is not None:
                keys[key[0]] = key[1]
            return [
                sa.literal_column(str(kind), sa.Integer).label("kind"),
                gen if gen is not None else sa.cast(sa.null(), attrs.c.value.type),
                holder if holder is not None else sa.cast(sa.null(), sa.Integer),
                *keys,
            ]

        branches = [sa.select(*row(_GENERATION, gen=attrs.c.value)).where(attrs.c.name == "generation")]
        # SQLite has no statistics (docs/concepts.md) and prefers the covering unique key, whose only usable
        # prefix here is the type (no collection is given): a scan of every dataset of the type, 80 ms at 10 M.
        # A unary plus hides the type from that key, so the data-ID index (all of `dims` equal) answers.
        dt: Any = tags.c.dataset_type_id
        if self._db.dialect == "sqlite":
            dt = sa.literal_column(f"+{tags.name}.dataset_type_id", sa.Integer)
        where = [dt == sa.bindparam("dt")]
        where += [tags.c[d] == sa.bindparam(f"v_{d}") for d in dims]
        held = sa.select(tags.c.collection_id).where(*where).limit(HOLDERS).subquery()
        branches.append(sa.select(*row(_HOLDER, holder=held.c.collection_id)))
        for i, name in enumerate(elements):
            element = self._universe[name]
            table = self._records.table(name)
            pk = table.c[element.primary_key.name]
            columns = (*element.parents, element.primary_key.name)  # the key's columns, in `required` order
            match = [table.c[c] == sa.bindparam(f"v_{d}") for c, d in zip(columns, element.required, strict=True)]
            parents = [p for p in element.parents if p in dims]
            branches.append(sa.select(*row(_HINT + 2 * i)).select_from(table).where(*match))
            # the hint is read only when the record is missing (the NOT EXISTS), as the message needs it
            known = (
                sa.select(pk)
                .where(*[table.c[p] == sa.bindparam(f"v_{p}") for p in parents])
                .where(~sa.exists().where(*match))
                .order_by(pk)
                .limit(HINTS)
                .subquery()
            )
            branches.append(sa.select(*row(_HINT + 2 * i + 1, key=(i, known.c[pk.name]))))
        stmt = sa.union_all(*branches)
        self._statements[stored.tags.name] = (stmt, elements)
        return stmt, elements
