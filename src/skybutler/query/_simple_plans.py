"""Query plans written as text for the two simplest shapes, without building a SQLAlchemy statement.

The first call of a query shape builds its SQLAlchemy statement, compiles it and derives its plan (`_plans`):
1-3 ms, about what SQLite needs to run the statement for 2000 rows (issue 26: W1's ``query_all`` and
``query_data_ids`` are such first calls).  The commonest shapes need none of that machinery:

* every dataset of one type in one RUN collection (``query_datasets("meta", collections="run")``);
* the data IDs of those datasets, with the dataset type's own dimensions (``query_data_ids(["visit",
  "detector"], datasets="meta", collections="run")``), implied values included;

each with no ``where``, data ID, bind, order or limit.  Their SQL is written here, by the rules `QueryBuilder`
follows for them: the dataset type's tags table alone, and for each implied dimension the records tables that
imply it (visit → physical_filter → band), each joined on every dimension it shares with what is joined before
it, by its whole primary key.  So the rows and their order are the builder's: ``tests/query/test_simple_plans.py``
compares the two on dataset types whose implied values come through none, one or two tables, on both back-ends.
Anything else returns ``None`` here and takes the ordinary path, and so do ``count``, ``any`` and
``explain_no_results`` of these results (they build their statements lazily).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from skybutler.query._plans import CachedPlans, Plan, leaves_key, plan_cache, type_key
from skybutler.query._spatial import OBSERVATION, SKYMAP, family_member
from skybutler.registry import CollectionType

if TYPE_CHECKING:
    from skybutler.dimensions import DataIdInput, DimensionGroup, DimensionUniverse
    from skybutler.registry import CollectionRecord, Registry, StoredDatasetType

__all__ = ["data_id_plan", "dataset_plan", "simple_data_ids", "simple_datasets"]


def simple_datasets(
    registry: Registry,
    types: Sequence[StoredDatasetType],
    wildcard: bool,
    leaves: Sequence[CollectionRecord],
    where: str,
    bind: Mapping[str, Any] | None,
    given: DataIdInput,
    order_by: Sequence[str] | None,
    limit: int | None,
    at: int | None,
) -> CachedPlans | None:
    """The plans of a `query_datasets` call of the first shape of this module (None for any other call)."""
    if wildcard or at is not None or not _plain(where, bind, given, order_by, limit):
        return None
    plan = dataset_plan(registry, types, leaves)
    return None if plan is None else CachedPlans([plan], [], ((0,), ()))  # part 0, nothing to explain


def simple_data_ids(
    registry: Registry,
    group: DimensionGroup,
    types: Sequence[StoredDatasetType],
    leaves: Sequence[CollectionRecord],
    where: str,
    bind: Mapping[str, Any] | None,
    given: DataIdInput,
    order_by: Sequence[str] | None,
    limit: int | None,
) -> CachedPlans | None:
    """The plans of a `query_data_ids` call of the second shape of this module (None for any other call)."""
    if not _plain(where, bind, given, order_by, limit):
        return None
    plan = data_id_plan(registry, group, types, leaves)
    return None if plan is None else CachedPlans([plan], [], None)


def _plain(
    where: str, bind: Mapping[str, Any] | None, given: DataIdInput, order_by: Sequence[str] | None, limit: int | None
) -> bool:
    """Whether a query call has no ``where``, bind, data ID, order or limit."""
    return not where and not bind and not given.values and not given.alternates and not order_by and limit is None


def dataset_plan(
    registry: Registry, types: Sequence[StoredDatasetType], leaves: Sequence[CollectionRecord]
) -> Plan | None:
    """The plan of every dataset of one type in one RUN collection ``leaves`` (else None).

    Its rows are those of `_queries._dataset_statement`: the required dimension values, ``dataset_id``,
    ``collection_id`` and the run's collection id (the same: a RUN is its datasets' run), sorted by data ID.
    """
    if len(types) != 1 or len(leaves) != 1 or leaves[0].type is not CollectionType.RUN:
        return None
    stored = types[0]
    cache = plan_cache(registry)
    key = ("simple datasets", type_key(stored), leaves_key(leaves))
    found = cache.get(key)
    if found is None:
        dims = list(stored.dataset_type.dimensions.required)
        read = {d: (0, d) for d in dims}
        extra = ["dataset_id", "collection_id", "collection_id"]
        found = _Text(registry).plan(
            stored, leaves[0], [read[d] for d in dims] + [(0, c) for c in extra], [], dims, read
        )
        cache.put(key, found or _NONE)
    return None if found is _NONE else found


def data_id_plan(
    registry: Registry, group: DimensionGroup, types: Sequence[StoredDatasetType], leaves: Sequence[CollectionRecord]
) -> Plan | None:
    """The plan of the data IDs of ``group`` that have a dataset of one type ``types`` in ``leaves``, when
    ``leaves`` is one RUN collection and ``group``'s required dimensions are the dataset type's (else None).

    Its rows are those of `_queries._data_id_statement`: ``group.names``' values, sorted by the required ones.
    """
    if len(types) != 1 or len(leaves) != 1 or leaves[0].type is not CollectionType.RUN:
        return None
    stored = types[0]
    dims = list(stored.dataset_type.dimensions.required)
    if set(group.required) != set(dims):
        return None
    cache = plan_cache(registry)
    key = ("simple data IDs", group.names, type_key(stored), leaves_key(leaves))
    found = cache.get(key)
    if found is None:
        joined = _implied_joins(registry.universe, dims, group)
        if joined is not None:
            joins, read = joined
            columns = [read[d] for d in group.names]
            found = _Text(registry).plan(stored, leaves[0], columns, joins, list(group.required), read)
        cache.put(key, found or _NONE)
    return None if found is _NONE else found


_NONE: Any = ("no simple plan",)
"""Cached for a shape that has no simple plan, so that it is not worked out again."""

Column = tuple[int, str]
"""A column of the query: (table number, 0 for the tags table; column name)."""

Join = tuple[str, dict[str, str], dict[str, Column]]
"""An element's table joined: its name, its column of each dimension it has, and where each dimension was read
from before it was joined (its join condition)."""


def _implied_joins(
    universe: DimensionUniverse, dims: list[str], group: DimensionGroup
) -> tuple[list[Join], dict[str, Column]] | None:
    """The records tables that give ``group``'s implied values, as `QueryBuilder.add_group` joins them, and the
    column each dimension is read from.

    None when the query would not be a chain of primary-key look-ups (a table joined otherwise: rows could
    repeat or multiply), or would have a spatial step.
    """
    if any(universe[d].is_skypix for d in group.names):
        return None
    read: dict[str, Column] = {d: (0, d) for d in dims}
    joins: list[Join] = []

    def add_element(name: str) -> bool:
        if any(j[0] == name for j in joins):
            return True
        element = universe[name]
        if element.is_skypix or not set(element.required) <= read.keys():  # not a look-up by primary key
            return False
        columns = {d: d for d in element.parents}
        if element.is_dimension:
            columns[element.name] = element.primary_key.name
        columns.update({i: i for i in element.implies})
        joins.append((name, columns, dict(read)))
        for d, column in columns.items():
            read.setdefault(d, (len(joins), column))
        return True

    for name in sorted(group.implied, key=lambda n: -universe[n].index):
        if name in read:
            continue
        for other in list(read):
            path = _implication_path(universe, other, name)
            if path:
                if not all(add_element(step) for step in path):
                    return None
                break
        else:
            if not add_element(name):
                return None
    if family_member(read, OBSERVATION) and family_member(read, SKYMAP):  # the automatic spatial join
        return None
    return joins, read


def _implication_path(universe: DimensionUniverse, start: str, target: str) -> list[str]:
    """The elements whose tables lead from ``start`` to ``target`` by ``implies`` (`QueryBuilder`'s rule)."""
    if not universe[start].is_dimension:
        return []
    for implied in universe[start].implies:
        if implied == target:
            return [start]
        rest = _implication_path(universe, implied, target)
        if rest:
            return [start, *rest]
    return []


class _Text:
    """SQL text in the registry's dialect: its identifier quoting and its parameter style."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        dialect = registry.db.engine.dialect
        self.quote = dialect.identifier_preparer.quote
        self.style = dialect.paramstyle

    def plan(
        self,
        stored: StoredDatasetType,
        run: CollectionRecord,
        selected: list[Column],
        joins: list[Join],
        order: list[str],
        read: dict[str, Column],
    ) -> Plan | None:
        """SELECT of the ``selected`` columns from the tags table of ``stored`` (``t1``) in collection ``run``,
        with the ``joins`` (``t2``, ...), sorted by the dimensions ``order`` (read from ``read``)."""
        marks = {"qmark": ("?", "?"), "pyformat": ("%(p0)s", "%(p1)s")}.get(self.style)
        tables = [stored.tags.name] + [self.registry.records.table(name).name for name, _, _ in joins]
        names = [*tables, *(c for _, c in selected)]
        if marks is None or any("%" in n for n in names):  # a percent sign would need escaping: the ordinary path
            return None
        q = self.quote

        def col(at: Column) -> str:
            return f"t{at[0] + 1}.{q(at[1])}"

        sql = f"SELECT {', '.join(map(col, selected))} \nFROM {q(tables[0])} AS t1"
        for i, (_, columns, before) in enumerate(joins, start=1):
            on = " AND ".join(f"{col(before[d])} = {col((i, c))}" for d, c in columns.items() if d in before)
            sql += f" JOIN {q(tables[i])} AS t{i + 1} ON {on}"
        sql += f" \nWHERE t1.dataset_type_id = {marks[0]} AND t1.collection_id = {marks[1]}"
        if order:
            sql += " ORDER BY " + ", ".join(col(read[d]) for d in order)
        names_ = None if self.style == "qmark" else ("p0", "p1")
        return Plan(sql, (stored.id, run.id), (), names_)
