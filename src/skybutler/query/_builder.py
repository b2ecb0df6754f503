"""Build one SELECT for a query: dimension tables, dataset tags and calibration rows joined on dimension keys.

Every table added is joined to what is already there on the dimension columns they share (a column named
after a dimension holds that dimension's key in every table), so the joins follow the universe's
``requires`` and ``implies`` relations without a hand-written join graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.dimensions import TIMESPAN_MAX, db_instant
from skybutler.errors import DataIdError
from skybutler.query._ast import Bind, Compare, Identifier, In, Literal, Node
from skybutler.query._expressions import compile_expression, suggest
from skybutler.query._fields import resolve_bare_field, resolve_dataset_field
from skybutler.query._parser import syntax_error
from skybutler.query._spatial import SpatialReport, apply_spatial, split_spatial
from skybutler.registry import CollectionRecord, CollectionType

if TYPE_CHECKING:
    from skybutler.dimensions import DimensionElement, DimensionGroup, DimensionUniverse
    from skybutler.registry import Registry, StoredDatasetType

__all__ = ["QueryBuilder", "column_token", "governor_inputs", "infer_governors", "refuse_nul"]


def _one_of(column: Any, values: Sequence[Any]) -> Any:
    """``column IN (values)`` with one bound parameter per value (``=`` for one).

    SQLAlchemy's default ``IN`` has one *expanding* parameter, rendered at execution: such a statement cannot
    be compiled once and reused (`Database.stream_rows` caches compiled shapes); a fixed count of parameters can.
    """
    if len(values) == 1:
        return column == values[0]
    return column.in_([sa.literal(v, type_=column.type) for v in values])


class _DatasetColumns:
    """The dataset columns of a query: dimension keys, ``dataset_id``, ``collection_id`` and ``run_id``."""

    def __init__(self, source: Any, run_id: Any) -> None:
        self.c = _Columns(source.c, run_id)


class _Columns:
    def __init__(self, columns: Any, run_id: Any) -> None:
        self._columns = columns
        self.run_id = run_id

    def __getitem__(self, name: str) -> Any:
        return self.run_id if name == "run_id" else self._columns[name]

    def __getattr__(self, name: str) -> Any:
        return self[name]


class QueryBuilder:
    """Accumulate tables and conditions, then produce a SELECT of dimension keys (and dataset columns)."""

    def __init__(self, registry: Registry, where_text: str = "") -> None:
        self.registry = registry
        self.universe = registry.universe
        self.text = where_text
        self.from_: Any = None
        self.dims: dict[str, Any] = {}
        """Dimension name → the SQL column holding its key."""
        self.elements: dict[str, Any] = {}
        """Element name → its joined (aliased) table."""
        self.conditions: list[Any] = []
        self.values: dict[str, Any] = {}
        """Dimension → the value the call's data ID gives it (`constrain`): every row has it."""
        self._aliases = 0
        self.skypix: dict[str, Any] = {}
        """Skypix dimensions the query needs but no table provides, with a data-ID value when constrained."""
        self.estimated = False
        """Whether a `where` comparison carries a range estimate (its SQL then depends on its values)."""
        self.spatial: SpatialReport | None = None
        """What the spatial step did (`skybutler.query._spatial`), when the query has one."""
        self.datasets: dict[str, Any] = {}
        """Dataset type name → the ``dataset_id`` column of its joined datasets (for ``dataset_id`` in where)."""
        self._dataset_rows: dict[str, Any] = {}
        self.keys: list[frozenset[str]] | None = [frozenset()]
        """What identifies a row of the join so far: alternative sets of dimension names and column tokens
        (`column_token`), any one of which takes one value per row; ``None`` when unknown (see `unique`)."""
        self._token_dims: dict[str, str] = {}
        """Column token → the dimension whose value the column holds (every such column is joined equal)."""

    # -- joining ----------------------------------------------------------------------------------------------
    def _alias(self, table: sa.Table) -> Any:
        """The table under the next alias name (``t1``, ``t2``, ...).

        Aliases are immutable, so each (table, name) is made once and kept in the table's ``info``: building
        an alias's column collection costs more than running a small query.
        """
        self._aliases += 1
        name = f"t{self._aliases}"
        cache: dict[str, Any] = table.info.setdefault("skybutler_aliases", {})
        alias = cache.get(name)
        if alias is None:
            alias = cache[name] = table.alias(name)
        return alias

    def _join(self, table: Any, dim_columns: Mapping[str, Any], keys: Sequence[frozenset[str]] | None) -> None:
        """Join ``table`` on every dimension it shares with the query; remember its other dimensions.

        ``keys`` are the table's own alternative keys (sets of dimension names and column tokens each unique
        among its rows, given the conditions its caller adds), ``None`` when it has none we know of.
        """
        on = [self.dims[d] == col for d, col in dim_columns.items() if d in self.dims]
        # A table joined on the whole of one of its keys matches at most one row per row of the join (a lookup
        # of a record by its primary key): what identifies the join's rows is unchanged.  Otherwise a row of
        # the join is identified by one of its keys together with one of the table's.
        lookup = keys is not None and any(k <= self.dims.keys() for k in keys)
        if keys is None:
            self.keys = None
        elif not lookup and self.keys is not None:
            self.keys = [a | b for a in self.keys for b in keys]
        if self.from_ is None:
            self.from_ = table
        else:
            self.from_ = self.from_.join(table, sa.and_(*on) if on else sa.true())
        for d, col in dim_columns.items():
            self.dims.setdefault(d, col)
            self._token_dims[column_token(col)] = d

    def lookup_join(self, table: Any, on: Any) -> None:
        """Join ``table`` on ``on``, an equality with the whole of its primary key (each row finds at most one)."""
        self.from_ = self.from_.join(table, on)

    def join_unknown(self, table: Any, on: Any) -> None:
        """Join ``table`` (a VALUES list, say) whose rows may repeat a row of the join: SELECTs become DISTINCT."""
        self.from_ = table if self.from_ is None else self.from_.join(table, on)
        self.keys = None

    def unique(self, columns: Sequence[Any]) -> bool:
        """Whether the joined rows, with every condition, never repeat a combination of ``columns``' values.

        True when ``columns`` hold one of the join's keys (`keys`): dimensions through any column joined equal
        to them, other columns (``dataset_id``) themselves.  A SELECT of such columns needs no DISTINCT, which
        SQLite would otherwise do by sorting or by a temporary index (issue 26: 20 % of query_data_ids).
        """
        if self.keys is None:
            return False
        tokens = {column_token(c) for c in columns}
        held = tokens | {self._token_dims[t] for t in tokens if t in self._token_dims}
        return any(k <= held for k in self.keys)

    def add_element(self, name: str) -> Any:
        """Join the records table of element ``name`` (once) and return it."""
        found = self.elements.get(name)
        if found is not None:
            return found
        element = self.universe[name]
        table = self._alias(self.registry.records.table(name))
        self.elements[name] = table
        # a records table's primary key is the element's required dimensions
        self._join(table, self._dimension_columns(element, table), [frozenset(element.required)])
        return table

    @staticmethod
    def _dimension_columns(element: DimensionElement, table: Any) -> dict[str, Any]:
        cols = {d: table.c[d] for d in element.parents}
        if element.is_dimension:
            cols[element.name] = table.c[element.primary_key.name]
        cols.update({i: table.c[i] for i in element.implies})
        return cols

    def add_dimension(self, name: str) -> Any:
        """Make dimension ``name``'s key available (joining the table that provides it) and return its column."""
        if name in self.dims:
            return self.dims[name]
        element = self.universe[name]
        if element.is_skypix:
            # computed from regions, not stored: `_spatial.apply_spatial` joins its values when `where` runs
            self.skypix.setdefault(name, None)
            return None
        # An implied dimension comes from the table of a dimension that implies it (visit → physical_filter
        # → band): join those tables rather than the implied one's, so the value is the record's, not any.
        for other in list(self.dims):
            path = self._implication_path(other, name)
            if path:
                for step in path:
                    self.add_element(step)
                return self.dims[name]
        self.add_element(name)
        return self.dims[name]

    def _implication_path(self, start: str, target: str) -> list[str]:
        """The elements whose tables lead from ``start`` to ``target`` by ``implies`` ([] when none do)."""
        if not self.universe[start].is_dimension:
            return []
        for implied in self.universe[start].implies:
            if implied == target:
                return [start]
            rest = self._implication_path(implied, target)
            if rest:
                return [start, *rest]
        return []

    def add_group(self, group: DimensionGroup) -> None:
        """Make every dimension of ``group`` available (implied ones from the records that imply them)."""
        for name in group.required:
            self.add_dimension(name)
        for name in sorted(group.implied, key=lambda n: -self.universe[n].index):
            self.add_dimension(name)

    def add_datasets(
        self,
        stored: StoredDatasetType,
        leaves: Sequence[CollectionRecord],
        *,
        at: int | None = None,
        temporal: str | None = None,
        untimed: bool = False,
    ) -> Any:
        """`join_datasets`, remembering the dataset ID column for the where expression's dataset fields."""
        columns = self.join_datasets(stored, leaves, at=at, temporal=temporal, untimed=untimed)
        self.datasets[stored.dataset_type.name] = columns.c.dataset_id
        return columns

    def join_datasets(
        self,
        stored: StoredDatasetType,
        leaves: Sequence[CollectionRecord],
        *,
        at: int | None = None,
        temporal: str | None = None,
        untimed: bool = False,
    ) -> Any:
        """Join the datasets of ``stored`` in ``leaves``; return the subquery's columns.

        RUN and TAGGED collections always take part.  CALIBRATION collections take part with ``at`` (a TAI
        time inside the validity range) or with ``temporal`` (an element with a timespan, ``exposure`` or
        ``visit``: its records' timespans must overlap the validity range — the temporal join), or ``untimed``
        (every current certification, whatever its range: a search with no time); otherwise they contribute
        nothing.  Only current certifications count.  The columns are the dimension keys,
        ``dataset_id``, ``collection_id``, ``run_id`` and, with ``temporal``, ``valid_begin`` (NULL for
        RUN/TAGGED rows) for find-first tie-breaking.
        """
        dims = list(stored.dataset_type.dimensions.required)
        d = self.registry.tables.dataset
        plain = [c.id for c in leaves if c.type is not CollectionType.CALIBRATION]
        calib = [c.id for c in leaves if c.type is CollectionType.CALIBRATION]
        use_calib = bool(calib) and stored.calibs is not None and (at is not None or temporal is not None or untimed)
        if plain and not use_calib:
            # The common case: join the tags table itself (a subquery would cost more to build than to run).
            tags = self._alias(stored.tags)
            # Unique in a tags table: (dataset_id, collection_id), and (dataset type, collection, data ID), so
            # with one collection (the dataset type is always fixed) the data ID alone.
            dataset_id, collection_id = column_token(tags.c.dataset_id), column_token(tags.c.collection_id)
            keys = [frozenset({dataset_id, collection_id}), frozenset({*dims, collection_id})]
            if len(plain) == 1:
                keys.append(frozenset(dims))
            self._join(tags, {x: tags.c[x] for x in dims}, keys)
            self.conditions += [tags.c.dataset_type_id == stored.id, _one_of(tags.c.collection_id, plain)]
            if all(c.type is CollectionType.RUN for c in leaves):
                # in a RUN collection the collection is the dataset's run: no join with the dataset table
                return _DatasetColumns(tags, tags.c.collection_id.label("run_id"))
            runs = self._alias(d)
            self.lookup_join(runs, runs.c.id == tags.c.dataset_id)
            return _DatasetColumns(tags, runs.c.run_id)
        with_validity = use_calib and at is None
        no_time = sa.cast(sa.null(), sa.BigInteger)
        tags = stored.tags
        parts = []
        if plain:
            extra: list[Any] = [no_time.label("valid_begin"), no_time.label("valid_end")] if with_validity else []
            parts.append(
                sa.select(*(tags.c[x] for x in dims), tags.c.dataset_id, tags.c.collection_id, d.c.run_id, *extra)
                .join(d, d.c.id == tags.c.dataset_id)
                .where(tags.c.dataset_type_id == stored.id, _one_of(tags.c.collection_id, plain))
            )
        if use_calib and stored.calibs is not None:
            c = stored.calibs.c
            when = [c.valid_begin <= db_instant(at), c.valid_end > db_instant(at)] if at is not None else []
            validity: list[Any] = [c.valid_begin, c.valid_end] if with_validity else []
            parts.append(
                sa.select(*(c[x] for x in dims), c.dataset_id, c.collection_id, d.c.run_id, *validity)
                .join(d, d.c.id == c.dataset_id)
                .where(c.dataset_type_id == stored.id, _one_of(c.collection_id, calib), c.recorded_end == TIMESPAN_MAX,
                       *when)
            )  # fmt: skip
        if not parts:  # typed like the tags table: PostgreSQL cannot compare an untyped NULL column with a value
            empty = sa.select(*(tags.c[x] for x in dims), tags.c.dataset_id, tags.c.collection_id, d.c.run_id)
            parts.append(empty.join(d, d.c.id == tags.c.dataset_id).where(sa.false()))
        sub = (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery(f"ds{self._aliases + 1}")
        self._aliases += 1
        self._join(sub, {x: sub.c[x] for x in dims}, None)  # a data ID may have several certifications
        if with_validity and temporal is not None:
            (begin, end), _ = self.resolve(Identifier(temporal, "timespan"))
            overlap = sa.and_(sub.c.valid_begin < end, sub.c.valid_end > begin)
            self.conditions.append(sa.or_(sub.c.valid_begin.is_(None), overlap))
        return _DatasetColumns(sub, sub.c.run_id)

    # -- constraints ----------------------------------------------------------------------------------------
    def constrain(self, values: Mapping[str, Any]) -> None:
        """Equality constraints on dimension keys (a partial data ID)."""
        for name, value in values.items():
            refuse_nul(name, value)
            self.values[name] = value
            column = self.add_dimension(name)
            if column is None:  # a skypix dimension: its computed values are filtered where they are made
                self.skypix[name] = value
            else:
                self.conditions.append(column == value)

    def where(self, node: Node | None, bind: Mapping[str, Any]) -> None:
        """Add a parsed `where` expression, then the spatial conditions (its own and the automatic join).

        Call it last: the spatial step runs a prefilter query over everything joined and constrained so far.
        """
        rest, spatial, nested = split_spatial(self.text, node, bind)
        exact: dict[int, Any] = {}
        if nested:  # decided before the rest is compiled, narrowed only by the data-ID constraints so far
            from skybutler.query._spatial_nested import nested_conditions

            exact = nested_conditions(self, nested, bind)
        if rest is not None:
            dialect = self.registry.db.dialect
            estimate = self._estimate if self.registry.estimates.active() else None
            self.conditions.append(compile_expression(self.text, rest, self.resolve, bind, dialect, exact, estimate))
        self.spatial = apply_spatial(self, spatial, bind)
        if nested and self.spatial is None:  # the exact answers are in the statement: no cached plan (`_plans`)
            self.spatial = SpatialReport([str(n) for n in nested], 1, 1)
        elif nested and self.spatial is not None:  # nor a spatial plan: its program fills the top-level terms only
            self.spatial.program = None

    def _estimate(self, ident: Identifier, op: str, value: int) -> float | None:
        """The share of ``ident``'s dimension keys that ``<op> value`` keeps (`registry._statistics`)."""
        if ident.element not in self.universe:
            return None
        element = self.universe[ident.element]
        if not element.is_dimension or ident.field not in (None, element.primary_key.name):
            return None
        share = self.registry.estimates.fraction(element.name, op, value)
        self.estimated = self.estimated or share is not None
        return share

    def resolve(self, ident: Identifier) -> tuple[Any, str]:
        """The column (or timespan pair) an identifier names, joining what it needs."""
        name, field = ident.element, ident.field
        if name not in self.universe:
            found = resolve_dataset_field(self, ident) or resolve_bare_field(self, ident)
            if found is not None:
                return found
            pool = [e.name for e in self.universe.elements if not e.is_skypix]
            raise syntax_error(self.text, ident.pos, f"Unknown dimension {name!r}{suggest(name, pool) or '.'}")
        element = self.universe[name]
        if element.is_skypix and name not in self.dims:
            raise syntax_error(
                self.text, ident.pos, f"{name} values are computed from regions; use {name}.region with OVERLAPS, "
                f"or give {name} in the data ID.",
            )  # fmt: skip
        if field is None:
            if not element.is_dimension:
                raise syntax_error(self.text, ident.pos, f"{name!r} has no value of its own; name one of its fields.")
            return self.add_dimension(name), element.primary_key.type
        if field == "timespan":
            if not element.has_timespan:
                raise syntax_error(self.text, ident.pos, f"{name!r} records have no timespan.")
            table = self.add_element(name)
            return (table.c.timespan_begin, table.c.timespan_end), "timespan"
        if element.is_dimension and field == element.primary_key.name:
            return self.add_dimension(name), element.primary_key.type
        specs = dict(zip(element.record_fields(), element.field_specs, strict=True))
        spec = specs.get(field)
        if spec is None:
            fields = [f for f, s in specs.items() if s is not None] + (["timespan"] if element.has_timespan else [])
            raise syntax_error(
                self.text, ident.pos + len(name) + 1, f"{name!r} has no field {field!r}{suggest(field, fields) or '.'}"
            )
        table = self.add_element(name)
        return table.c[field], spec.type

    # -- governors ------------------------------------------------------------------------------------------
    def infer_governors(self, constrained: Iterable[str], node: Node | None) -> dict[str, Any]:
        """Constrain governors left open when the repository has one value; refuse when it is ambiguous.

        A where-expression on ``visit`` means nothing without the instrument (visit numbers are per
        instrument).  With one instrument in the repository it is implied; with several, the error lists them.
        """
        return infer_governors(self.registry, constrained, *governor_inputs(self.universe, node))

    def select(self, columns: Sequence[Any]) -> Any:
        """The SELECT of ``columns`` over everything joined, with every condition."""
        stmt = sa.select(*columns)
        if self.from_ is not None:
            stmt = stmt.select_from(self.from_)
        if self.conditions:
            stmt = stmt.where(*self.conditions)
        return stmt


def column_token(column: Any) -> str:
    """A column's name qualified by its table's (alias) name: how `QueryBuilder.keys` names non-dimension columns."""
    table = getattr(column, "table", None)
    return f"{getattr(table, 'name', '?')}.{getattr(column, 'name', '?')}"


def governor_inputs(universe: DimensionUniverse, node: Node | None) -> tuple[frozenset[str], tuple[str, ...]]:
    """What governor inference needs of an expression: the dimensions it fixes by equality, and the dimensions
    whose own values it uses (sorted).  Query plans keep this per expression shape."""
    # Only a dimension's own values are per governor (``visit > 5``); a field (``visit.exposure_time``) is not.
    referenced = {
        n.element
        for n in _walk(node)
        if isinstance(n, Identifier)
        and n.element in universe
        and universe[n.element].is_dimension
        and (n.field is None or n.field == universe[n.element].primary_key.name)
    }
    return frozenset(_equality_dims(node)), tuple(sorted(referenced))


def infer_governors(
    registry: Registry, constrained: Iterable[str], pinned_by_node: frozenset[str], referenced: Sequence[str]
) -> dict[str, Any]:
    """Governor values to add: see `QueryBuilder.infer_governors` (inputs from `governor_inputs`)."""
    universe = registry.universe
    pinned = set(constrained) | pinned_by_node
    added: dict[str, Any] = {}
    for name in referenced:
        for governor in universe[name].required:
            if not universe[governor].governor or governor in pinned or governor == name:
                continue
            values = registry.records.some_keys(governor, {}, 2)
            if len(values) > 1:
                known = registry.records.some_keys(governor, {}, 20)
                raise DataIdError(
                    f"{name!r} values are per {governor}; this repository has several ({known}): add "
                    f"{governor}='...' to the data ID or the expression."
                )
            if values:
                added[governor] = values[0]
            pinned.add(governor)
    return added


def refuse_nul(name: str, value: Any) -> None:
    """A data ID string with a NUL character: PostgreSQL cannot take it (SQLite would quietly match nothing)."""
    if isinstance(value, str) and "\x00" in value:
        raise DataIdError(f"The {name} value {value!r} holds a NUL character, which no stored value can hold.")


def _walk(node: Node | None) -> Iterable[Node]:
    if node is None:
        return
    yield node
    for name in ("items", "operand", "left", "right", "expr", "begin", "end", "args"):
        child = getattr(node, name, None)
        if isinstance(child, tuple):
            for c in child:
                yield from _walk(c)
        elif child is not None and not isinstance(child, str | int | float | bool):
            yield from _walk(child)


def _referenced_dims(node: Node | None) -> Iterable[str]:
    for n in _walk(node):
        if isinstance(n, Identifier):
            yield n.element


def _equality_dims(node: Node | None) -> Iterable[str]:
    """Dimensions fixed by ``dim = literal`` (or a one-item IN) at the top level of an AND, or in every branch
    of an OR: ``(instrument = 'A' AND detector = 1) OR (instrument = 'B' AND detector = 2)`` fixes the
    instrument of each detector, as the reference reads it."""
    from skybutler.query._ast import And, Or

    if isinstance(node, Or):
        branches = [set(_equality_dims(item)) for item in node.items]
        yield from sorted(set.intersection(*branches))
        return
    items = node.items if isinstance(node, And) else (node,) if node is not None else ()
    for item in items:
        if isinstance(item, Or):
            yield from _equality_dims(item)
        if isinstance(item, Compare) and item.op == "=":
            for side, other in ((item.left, item.right), (item.right, item.left)):
                if isinstance(side, Identifier) and side.field is None and isinstance(other, Literal | Bind):
                    yield side.element
        if isinstance(item, In) and not item.negated and isinstance(item.expr, Identifier) and len(item.items) == 1:
            yield item.expr.element
