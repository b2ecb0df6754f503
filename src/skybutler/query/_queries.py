"""Query calls: data IDs, datasets and dimension records, with lazy results that explain emptiness."""

from __future__ import annotations

import fnmatch
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.datasets import DatasetRef, DatasetType, refs_from_rows
from skybutler.dimensions import DataCoordinate, normalize_data_id
from skybutler.errors import DataIdError, DatasetTypeError
from skybutler.query._builder import QueryBuilder, _referenced_dims, refuse_nul
from skybutler.query._calibration_search import check_untimed_calibrations, untimed_check_needed
from skybutler.query._constraints import Constraints, prepare
from skybutler.query._lazy import checked, chunks, deferred, once
from skybutler.query._ordering import (
    check_dataset_order,
    checked_ordering,
    distinct_ordered,
    order_columns,
    order_key,
    sort_order,
)
from skybutler.query._plans import CachedPlans, leaves_key, plan_or_build, type_key
from skybutler.query._results import DataIdResults, DatasetResults
from skybutler.query._simple_plans import simple_data_ids, simple_datasets
from skybutler.registry._single_reads import single_statement_read
from skybutler.registry._small_reads import stream_text

if TYPE_CHECKING:
    from skybutler.dimensions import DimensionGroup
    from skybutler.registry import CollectionRecord, Registry, StoredDatasetType

__all__ = [
    "DataIdResults",
    "DatasetResults",
    "SqlDataIdResults",
    "SqlDatasetResults",
    "dataset_type_names",
    "query_data_ids",
    "query_datasets",
]

PAGE = 1000


def _apply(builder: QueryBuilder, node: Any, constraints: Constraints) -> None:
    builder.constrain(dict(constraints.values))
    for dim, keys in constraints.alternates.items():
        table = builder.add_element(dim)
        for k, v in keys.items():
            refuse_nul(f"{dim}.{k}", v)
            builder.conditions.append(table.c[k] == v)
    builder.where(node, dict(constraints.bind))
    if builder.spatial is not None:  # for explanations; while checked, a plannable step's program (`_spatial_plan`)
        constraints.spatial.append(builder.spatial)
    if builder.estimated:  # so is a range estimate's share (`_expressions.likely`)
        constraints.estimated.append(True)


class _Results(ABC):
    """Lazy: nothing runs until iterated, counted or tested (the SQL half of `QueryResults`)."""

    def __init__(
        self,
        registry: Registry,
        explanations: list[str],
        constraints: Constraints,
        cached: CachedPlans | None,
        note: str | None,
    ) -> None:
        self._registry = registry
        self._explanations = explanations
        self._constraints = constraints.values
        self._spatial = constraints.spatial
        """Reports of the spatial step (`_spatial`), filled when the statements are built."""
        self._cached = cached
        """Query plans of the statements, in order, and their slot values, when the call's shape has them."""
        self._reused = cached is not None
        """Whether the plans were cached before this call (a first call runs on the plans it derives too)."""
        self._arrays: list[Any] | None = None
        self._pending: list[Any] | None = None
        """Results `__len__` fetched, for the iteration that follows it (see there)."""
        self.note = note
        """How the query was read, when that is not plain from the call (every RUN searched, say)."""

    @property
    def planned(self) -> bool:
        """Whether this result runs on the cached query plans of its call's shape (no SQL is built for it)."""
        return self._reused

    def run_on(self, cached: CachedPlans) -> None:
        """Read the rows by ``cached``'s plans, derived from this call's own statements (they give the same SQL)."""
        self._cached = cached

    @abstractmethod
    def _statement(self) -> Any:
        """The SELECT this result runs (each result kind builds its own)."""

    def _pages(self, i: int, build: Any) -> Iterator[list[Any]]:
        """Pages of rows of the ``i``-th statement: by its plan when there is one, else built and compiled."""
        db = self._registry.db
        if self._cached is not None:
            plan, slots = self._cached.plans[i], self._cached.slots
            if self._cached.spatial is not None:  # the keys its region check passed (`_spatial_plan`), once
                self._arrays = self._cached.spatial() if self._arrays is None else self._arrays
                return stream_text(db, plan.sql, plan.parameters(slots + self._arrays), PAGE, generic=True)
            return db.stream_sql(plan.sql, plan.parameters(slots), PAGE)
        return chunks(db.stream_rows(build(), PAGE), PAGE)

    def count(self, *, exact: bool = True) -> int:
        """Number of results (``exact=False`` may skip find-first and return an upper bound)."""
        stmt = sa.select(sa.func.count()).select_from(self._statement().subquery())
        db = self._registry.db
        with single_statement_read(db), db.transaction(write=False) as conn:  # one round trip on PostgreSQL
            return int(conn.execute(stmt).scalar_one())

    def any(self) -> bool:
        """Whether there is at least one result."""
        db = self._registry.db
        with single_statement_read(db), db.transaction(write=False) as conn:
            return conn.execute(self._statement().limit(1)).first() is not None

    def __len__(self) -> int:
        """The number of results, by running the query; its results are kept for the next iteration.

        ``list(results)`` asks for the length before it iterates: a ``COUNT`` here would run every query twice
        (W1's queries took twice as long).  So the rows are fetched once, counted, and handed to the iteration
        that follows; a later one queries again.  `count` counts in the database without fetching.
        """
        pending = list(self._iterate())
        self._pending = pending
        return len(pending)

    def __iter__(self) -> Iterator[Any]:
        # list() makes its iterator *before* asking for the length: what len() fetched is looked for when the
        # iteration starts, not when the iterator is made
        pending, self._pending = self._pending, None
        yield from (pending if pending is not None else self._iterate())

    def _iterate(self) -> Iterator[Any]:
        """Run the query and yield its results (from pages, by `itertools.chain`: no generator step per result)."""
        return chain.from_iterable(self._result_pages())

    @abstractmethod
    def _result_pages(self) -> Iterator[list[Any]]:
        """Run the query and yield its results, a list per page of rows."""

    def explain_no_results(self) -> list[str]:
        """Reasons the result is empty ([] when it is not): missing collections, datasets, records, or the filter."""
        if self.any():
            return []
        spatial = list(dict.fromkeys(r for report in self._spatial for r in report.explain()))  # a plan reports too
        reasons = list(self._explanations) + self._diagnose() + spatial
        reasons = reasons or ["No rows match the data ID constraints and the where expression."]
        return ([f"{self.note[0].upper()}{self.note[1:]}."] if self.note else []) + reasons

    def _diagnose(self) -> list[str]:
        reasons = []
        for name, value in self._constraints.items():
            element = self._registry.universe[name]
            if element.is_skypix or not element.is_dimension:
                continue
            known = {p: self._constraints[p] for p in element.parents if p in self._constraints}
            if value not in self._registry.records.some_keys(name, known, 100_000):
                reasons.append(f"No {name} record has the value {value!r}" + (f" for {known}." if known else "."))
        return reasons


class SqlDataIdResults(_Results, DataIdResults):
    """Data IDs of a registry query; iterate for `DataCoordinate` objects (full: required and implied values)."""

    def __init__(
        self,
        registry: Registry,
        group: DimensionGroup,
        build: Any,
        explanations: list[str],
        constraints: Constraints,
        cached: CachedPlans | None = None,
        note: str | None = None,
    ) -> None:
        super().__init__(registry, explanations, constraints, cached, note)
        self.group = group
        self._build = once(build)

    def _statement(self) -> Any:
        return self._build()

    def __iter__(self) -> Iterator[DataCoordinate]:
        return super().__iter__()

    def _result_pages(self) -> Iterator[list[DataCoordinate]]:
        group = self.group
        for rows in self._pages(0, self._build):
            yield DataCoordinate.from_trusted_rows(group, rows)

    def expanded(self) -> list[DataCoordinate]:
        """The data IDs with their dimension records."""
        from skybutler.dimensions import DataIdInput

        out = []
        for coord in self:
            given = DataIdInput(self._registry.universe, dict(coord))
            out.append(self._registry.resolver.complete(self.group, given, expand=True))
        return out


class SqlDatasetResults(_Results, DatasetResults):
    """Datasets of a registry query; iterate for `DatasetRef` objects."""

    def __init__(
        self,
        registry: Registry,
        parts: list[tuple[StoredDatasetType, Any]],
        explanations: list[str],
        constraints: Constraints,
        limit: int | None,
        cached: CachedPlans | None = None,
        note: str | None = None,
    ) -> None:
        super().__init__(registry, explanations, constraints, cached, note)
        self._parts = [(stored, once(build)) for stored, build in parts]
        self._limit = limit
        """``limit=`` of the query: each type's statement has it, and so has the whole (several types)."""

    def _statement(self) -> Any:
        stmts = [build() for _, build in self._parts]
        if not stmts:
            return sa.select(sa.literal(1)).where(sa.false())
        return stmts[0] if len(stmts) == 1 else sa.union_all(*(s.with_only_columns(sa.literal(1)) for s in stmts))

    def count(self, *, exact: bool = True) -> int:
        """Number of datasets."""
        if not self._parts:
            return 0
        # one statement for every type (one round trip, one snapshot): a count per type, as columns
        counts = [sa.select(sa.func.count()).select_from(b().subquery()).scalar_subquery() for _, b in self._parts]
        db = self._registry.db
        with single_statement_read(db), db.transaction(write=False) as conn:
            total = sum(int(n) for n in conn.execute(sa.select(*counts)).one())
        return total if self._limit is None else min(total, self._limit)

    def any(self) -> bool:
        """Whether there is at least one dataset."""
        if not self._parts:
            return False
        found = [sa.exists(build().limit(1)) for _, build in self._parts]  # one statement, as `count`
        db = self._registry.db
        with single_statement_read(db), db.transaction(write=False) as conn:
            return any(conn.execute(sa.select(*found)).one())

    def __iter__(self) -> Iterator[DatasetRef]:
        return super().__iter__()

    def _result_pages(self) -> Iterator[list[DatasetRef]]:
        collections = self._registry.collections

        def run_name(collection_id: int) -> str:
            return collections.by_id(collection_id).name

        for dt, rows in self.row_pages():
            n = len(dt.dimensions.required)
            yield refs_from_rows(dt, rows, id_at=n, run_at=n + 2, run_name=run_name)

    def row_pages(self) -> Iterator[tuple[DatasetType, list[Any]]]:
        """The registry rows the refs are made of, page by page, with their dataset type, for callers that pass
        them on without making refs (the server's streamed answers).

        With ``n`` the number of the type's required dimensions, ``row[:n]`` are the data ID's required values,
        ``row[n]`` the dataset ID (a UUID, or its 32 hex digits on SQLite) and ``row[n + 2]`` the ID of the
        run's collection (`CollectionManager.by_id`).
        """
        left = self._limit
        for i, (stored, build) in enumerate(self._parts):
            for rows in self._pages(i, build):
                if left is not None:
                    if left <= 0:
                        continue  # drained, not abandoned (each statement has the limit): no cursor left open
                    rows = rows[:left]
                    left -= len(rows)
                yield stored.dataset_type, rows


def query_data_ids(
    registry: Registry,
    dimensions: Iterable[str],
    *,
    where: str = "",
    bind: Mapping[str, Any] | None = None,
    data_id: Any = None,
    datasets: Sequence[StoredDatasetType] = (),
    leaves: Sequence[CollectionRecord] = (),
    order_by: Sequence[str] | None = None,
    limit: int | None = None,
    kwargs: Mapping[str, Any] | None = None,
    note: str | None = None,
) -> DataIdResults:
    """Data IDs of ``dimensions`` satisfying the constraints (and having datasets of ``datasets`` in ``leaves``).

    ``note`` is carried by the result (``results.note``): how the caller read the query.
    """
    order_by, limit = checked_ordering(order_by, limit)
    group = registry.universe.group(dimensions)
    if not group.names:  # a SELECT of nothing: SQLite and PostgreSQL each fail on it, differently
        raise DataIdError("No dimensions given: name at least one, e.g. ['visit', 'detector'].")
    given = normalize_data_id(registry.universe, data_id, kwargs or {})
    explanations = []
    if datasets and not leaves:
        explanations.append("No collections were given to search for the datasets.")

    def statement(node: Any, constraints: Constraints) -> Any:
        return _data_id_statement(registry, group, where, node, constraints, datasets, leaves, order_by, limit)

    def make(node: Any, constraints: Constraints, cached: CachedPlans | None) -> tuple[SqlDataIdResults, Any, None]:
        results = SqlDataIdResults(registry, group, lambda: statement(node(), constraints), explanations, constraints,
                                cached, note)  # fmt: skip
        if cached:
            return results, [], None
        built, spatial = checked(constraints, lambda: [statement(node(), constraints)])  # errors at the call
        if not spatial:
            results._build = once(lambda: built[0])
        return results, [(built[0], statement)], None  # spatial: its program fills the plan's keys (`_plans`)

    if (simple := simple_data_ids(registry, group, datasets, leaves, where, bind, given, order_by, limit)) is not None:
        return make(lambda: None, Constraints({}, {}, {}), simple)[0]  # written as text (`_simple_plans`)
    types = tuple(map(type_key, datasets))
    return plan_or_build(
        registry, where, bind, given, leaves,
        lambda shape: ("ids", shape, group.names, types, leaves_key(leaves), order_key(order_by), limit), make,
    )  # fmt: skip


def _data_id_statement(
    registry: Registry,
    group: DimensionGroup,
    where: str,
    node: Any,
    constraints: Constraints,
    datasets: Sequence[StoredDatasetType],
    leaves: Sequence[CollectionRecord],
    order_by: Sequence[str] | None,
    limit: int | None,
) -> Any:
    # Everything the constraints name takes part in the temporal join, as in `query_datasets`: a visit given by
    # an alternate key or only in the where expression selects calibrations by its timespan too.
    wanted = set(group.names) | set(constraints.values) | set(constraints.alternates) | set(_referenced_dims(node))
    b = QueryBuilder(registry, where)
    for stored in datasets:
        # with no time, a CALIBRATION collection answers with every current certification (as the reference)
        temporal = _temporal_element(registry, stored, leaves, wanted, None)
        b.add_datasets(stored, leaves, temporal=temporal, untimed=temporal is None)
    b.add_group(group)
    _apply(b, node, constraints)
    stmt = distinct_ordered(b, [(d, b.dims[d]) for d in group.names], order_by, [b.dims[d] for d in group.required])
    return stmt.limit(limit) if limit is not None else stmt


def dataset_type_names(value: Any) -> list[str]:
    """Dataset type names or globs from a name, a `DatasetType`, or several of them.

    Anything else (a ``re.Pattern``, as the reference butler takes, or a number) is a `DatasetTypeError`; it used
    to escape as a bare ``TypeError``, as did a `DatasetType` object.
    """
    one = isinstance(value, str | DatasetType) or not isinstance(value, Iterable)
    names = []
    for item in [value] if one else list(value):
        if isinstance(item, DatasetType):
            item = item.name
        if not isinstance(item, str):
            raise DatasetTypeError(
                f"Dataset types are given by name, DatasetType or glob pattern ('cal*', '*'), not {item!r} "
                f"({type(item).__name__}); regular expressions are not supported."
            )
        names.append(item)
    return names


def _matching_types(registry: Registry, dataset_types: Any) -> tuple[list[StoredDatasetType], bool]:
    names = dataset_type_names(dataset_types)
    wildcard = any(any(ch in n for ch in "*?[") for n in names)
    if not wildcard:
        return [registry.dataset_types.get(n) for n in names], False
    found = [s for s in registry.dataset_types.all() if any(fnmatch.fnmatchcase(s.dataset_type.name, p) for p in names)]
    return found, True


def query_datasets(
    registry: Registry,
    dataset_types: str | DatasetType | Iterable[str | DatasetType],
    leaves: Sequence[CollectionRecord],
    *,
    where: str = "",
    bind: Mapping[str, Any] | None = None,
    data_id: Any = None,
    find_first: bool = True,
    order_by: Sequence[str] | None = None,
    limit: int | None = None,
    at: int | None = None,
    kwargs: Mapping[str, Any] | None = None,
    note: str | None = None,
) -> DatasetResults:
    """Datasets of the given types (names, globs or ``"*"``) in the collections, satisfying the constraints.

    With ``find_first`` only the first dataset along the search path is kept for each data ID (a window
    function in SQL, on both back-ends).  A call of a shape seen before runs on its cached query plan
    (`_plans`), without building SQL.
    """
    order_by, limit = checked_ordering(order_by, limit)
    types, wildcard = _matching_types(registry, dataset_types)
    if order_by and types:
        check_dataset_order(registry, types, order_by)
    given = normalize_data_id(registry.universe, data_id, kwargs or {})
    if find_first and at is None and untimed_check_needed(types, leaves):  # certifications change between
        # calls: checked on every call, plans or not (its governor inference is a statement: only when needed)
        check_node, check_constraints = prepare(registry, where, bind, given)
        check_untimed_calibrations(
            registry, types, leaves, given, where, _temporal_element,
            lambda b: _apply(b, check_node, check_constraints),
        )  # fmt: skip

    def statement(stored: StoredDatasetType, temporal: str | None) -> Any:
        def build(node: Any, constraints: Constraints) -> Any:
            return _dataset_statement(registry, stored, leaves, where, node, constraints, find_first, order_by,
                                      limit, at, temporal)()  # fmt: skip

        return build

    def make(node: Any, constraints: Constraints, cached: CachedPlans | None) -> tuple[SqlDatasetResults, Any, Any]:
        if cached is not None:  # the parts and explanations of the call that derived the plans
            indices, explained = cached.entry
            lazy = [(types[i], deferred(statement(types[i], None), node, constraints)) for i in indices]
            return SqlDatasetResults(registry, lazy, list(explained), constraints, limit, cached, note), [], None
        parts, rebuilders, indices, explanations = _dataset_parts(
            registry, types, wildcard, dataset_types, leaves, node(), constraints, at, statement
        )
        results = SqlDatasetResults(registry, parts, explanations, constraints, limit, None, note)
        tree = node()
        # built now: errors surface at the call, not at iteration
        built, spatial = checked(constraints, lambda: [rebuild(tree, constraints) for rebuild in rebuilders])
        if not spatial:
            results._parts = [(stored, once(lambda s=stmt: s)) for (stored, _), stmt in zip(parts, built, strict=True)]
        statements = built if not spatial else [None] * len(rebuilders)  # spatial: not planned (`_plans`)
        return results, list(zip(statements, rebuilders, strict=True)), (tuple(indices), tuple(explanations))

    if (
        simple := simple_datasets(registry, types, wildcard, leaves, where, bind, given, order_by, limit, at)
    ) is not None:
        return make(lambda: None, Constraints({}, {}, {}), simple)[0]  # written as text (`_simple_plans`)
    named = None if types else repr(dataset_types)  # it is in the explanation of an empty match
    type_keys = tuple(map(type_key, types))
    return plan_or_build(
        registry, where, bind, given, leaves,
        lambda shape: ("datasets", shape, type_keys, wildcard, named, leaves_key(leaves), find_first,
                       order_key(order_by), limit),
        make,
    )  # fmt: skip


def _dataset_parts(
    registry: Registry,
    types: list[StoredDatasetType],
    wildcard: bool,
    dataset_types: Any,
    leaves: Sequence[CollectionRecord],
    node: Any,
    constraints: Constraints,
    at: int | None,
    statement: Any,
) -> tuple[list[tuple[StoredDatasetType, Any]], list[Any], list[int], list[str]]:
    """The dataset types a query searches (each with its lazy statement and rebuilder) and the explanations."""
    referenced = set(constraints.values) | set(constraints.alternates)
    referenced |= {d for d in _referenced_dims(node) if d in registry.universe and registry.universe[d].is_dimension}
    explanations: list[str] = []
    if not leaves:
        explanations.append("No collections to search.")
    parts: list[tuple[StoredDatasetType, Any]] = []
    rebuilders, indices = [], []
    for i, stored in enumerate(types):
        group = stored.dataset_type.dimensions
        if wildcard and not referenced <= set(group.names):
            explanations.append(
                f"{stored.dataset_type.name!r} has dimensions {list(group.required)}, which do not include "
                f"{sorted(referenced - set(group.names))}; it was left out."
            )
            continue
        temporal = _temporal_element(registry, stored, leaves, referenced, at)
        rebuilders.append(statement(stored, temporal))
        indices.append(i)
        parts.append((stored, deferred(rebuilders[-1], lambda: node, constraints)))
    if not types:
        explanations.append(f"No dataset type matches {dataset_types!r}.")
    calibs = [c.name for c in leaves if c.type.name == "CALIBRATION"]
    calib_types = [s for s in types if s.calibs is not None]
    if calibs and types and not calib_types:  # at= or a visit would not help: say what would
        names = ", ".join(repr(s.dataset_type.name) for s in types)
        what = "is not a calibration dataset type" if len(types) == 1 else "are not calibration dataset types"
        explanations.append(
            f"{names} {what}: CALIBRATION collections {calibs} hold none of its datasets (search the RUN or "
            "TAGGED collections that do)."
        )
    return parts, rebuilders, indices, explanations


def _temporal_element(
    registry: Registry,
    stored: StoredDatasetType,
    leaves: Sequence[CollectionRecord],
    referenced: set[str],
    at: int | None,
) -> str | None:
    """The element whose timespan selects calibrations (``exposure``, else ``visit``), when a temporal join applies.

    It applies to a calibration dataset type searched in a CALIBRATION collection without ``at=``, when the
    constraints name an exposure or visit that is not one of the dataset type's own dimensions.
    """
    if at is not None or stored.calibs is None or not any(c.type.name == "CALIBRATION" for c in leaves):
        return None
    own = set(stored.dataset_type.dimensions.names)
    for name in ("exposure", "visit"):
        if name in referenced and name not in own and name in registry.universe:
            return name
    return None


def _dataset_statement(
    registry: Registry,
    stored: StoredDatasetType,
    leaves: Sequence[CollectionRecord],
    where: str,
    node: Any,
    constraints: Constraints,
    find_first: bool,
    order_by: Sequence[str] | None,
    limit: int | None,
    at: int | None,
    temporal: str | None = None,
) -> Any:
    dims = list(stored.dataset_type.dimensions.required)
    rank = {c.id: i for i, c in enumerate(leaves)}

    def build() -> Any:
        b = QueryBuilder(registry, where)
        sub = b.add_datasets(stored, leaves, at=at, temporal=temporal, untimed=at is None and temporal is None)
        _apply(b, node, constraints)
        cols = [sub.c[d] for d in dims] + [sub.c.dataset_id, sub.c.collection_id, sub.c.run_id]
        if find_first and (len(leaves) > 1 or temporal is not None):
            order: list[Any] = [sa.case(rank, value=sub.c.collection_id, else_=len(rank))]
            partition = [sub.c[d] for d in dims]
            if temporal is not None:
                # one winner per exposure (visit): the first collection, then the latest-starting validity range
                partition += [b.dims[d] for d in registry.universe[temporal].required if d not in dims]
                order.append(sa.func.coalesce(sub.c.valid_begin, 0).desc())
            rn = sa.func.row_number().over(partition_by=partition, order_by=order).label("rn")
            # order_by columns travel through the subquery as o0, o1, ... so the outer query can sort on them
            terms = order_columns(b, order_by)
            keys = [column.label(f"o{i}") for i, (column, _) in enumerate(terms)]
            inner = b.select([*cols, *keys, rn])
            inner = (inner if b.unique(cols) else inner.distinct()).subquery("ff")
            selected = [inner.c[c.name] for c in cols]
            stmt = sa.select(*selected).where(inner.c.rn == 1)
            outer = sort_order([inner.c[f"o{i}"] for i in range(len(terms))], terms)
            if temporal is not None:  # several exposures may pick the same dataset: once each
                stmt = sa.select(*selected, *(inner.c[k.name] for k in keys)).where(inner.c.rn == 1).distinct()
            stmt = stmt.order_by(*outer, *(inner.c[d] for d in dims))  # the data ID breaks ties
        else:
            stmt = distinct_ordered(b, [(c.name, c) for c in cols], order_by, [sub.c[d] for d in dims])
        return stmt.limit(limit) if limit is not None else stmt

    return build
