"""Query plans: the SQL of a query *shape*, compiled once, and where each call's values go in its parameters.

Programs issue the same query many times with other values (``visit > 17``, then ``visit > 18``; another
detector in the data ID).  Building the SQLAlchemy statement, computing its cache key and compiling it costs
about 0.2 ms, more than SQLite needs to run it.  A `Plan` keeps the SQL text of one shape and, for each of its
parameters, either a constant (a dataset type or collection id: part of the shape) or the index of a *slot*:
one of the call's own values (an integer literal of the `where` text, a data ID value, a bind value).

A plan is derived by building the statement a second time with *markers* in the slots: unique values of the
same Python types as the real ones, so every type-dependent decision (bind casts, type checks) is the same.
The parameters holding a marker (by identity) are the slots' places; the rest are constants.  The plan is
kept only when it reproduces, for this call's values, exactly the SQL and parameters of the statement built
the ordinary way, so a plan never answers differently from the path it replaces.  Values are always bound
parameters, never spliced into the SQL.

Which shapes are the same is decided by `CallShape.key`: the `where` text with its integer literals blanked
out, the names of the data ID keys, the types of bind values, plus what the caller adds (dataset types and
collections by id, find-first, order, limit).  Governor inference depends on registry contents, so it runs
on every call and its outcome (which governors were added) is part of the plan's key.
"""

from __future__ import annotations

import dataclasses
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from weakref import WeakKeyDictionary

from skybutler.errors import QuerySyntaxError
from skybutler.query._ast import Arith
from skybutler.query._builder import governor_inputs, infer_governors
from skybutler.query._constraints import Constraints, prepare
from skybutler.query._parser import int_literals, integers, parse_where, with_int_literals
from skybutler.query._spatial import checking_only
from skybutler.registry import CollectionType

if TYPE_CHECKING:
    from skybutler.dimensions import DataIdInput
    from skybutler.query._spatial_plan import SpatialProgram
    from skybutler.registry import CollectionRecord, Registry, StoredDatasetType


class _Runnable(Protocol):
    def run_on(self, cached: CachedPlans) -> None: ...


R = TypeVar("R", bound=_Runnable)

__all__ = [
    "NOT_PLANNED",
    "CallShape",
    "Plan",
    "PlanCache",
    "cached_plans",
    "call_shape",
    "derive_plan",
    "leaves_key",
    "markers",
    "plan_cache",
    "remember_plans",
    "shape_of",
    "split_slots",
    "type_key",
]

_MAX_ENTRIES = 500
_SLOT_TYPES = (int, str, float)
_INT_MARK = -(1 << 62)
"""Integer markers sit far outside any dimension value, and in PostgreSQL's BIGINT range (a marker that
fitted INTEGER would make SQLAlchemy cast the parameter ``::INTEGER``, too narrow for later values)."""
_PG_INT_CAST = re.compile(r"::(?:INTEGER|BIGINT|SMALLINT)\b")


@dataclass(frozen=True, slots=True)
class CallShape:
    """What a call's SQL depends on (``key``) and the values that fill its parameters (``slots``)."""

    key: tuple[Any, ...]
    slots: list[Any]
    n_ints: int
    """The first ``n_ints`` slots are the integer literals of the `where` text, in order."""


def markers(slots: Sequence[Any]) -> list[Any]:
    """One unique value per slot, of the slot's type."""
    out: list[Any] = []
    for i, value in enumerate(slots):
        kind = type(value)
        if kind is int:
            out.append(_INT_MARK - i)
        elif kind is float:
            out.append(-1.0e-300 * (i + 1))
        else:
            out.append(f"\x01skybutler-slot-{i}\x01")
    return out


def call_shape(where: str, given: DataIdInput, bind: Mapping[str, Any] | None) -> CallShape | None:
    """The shape of a call, or ``None`` when it has values a plan cannot take (the ordinary path runs then).

    Slots, in order: the integer literals of ``where``, the data ID values, the alternate-key values, the bind
    values (a list or tuple bind gives one slot per item).  Booleans, times and other objects are not slots,
    nor strings holding a NUL (the ordinary path refuses them with the reason).
    """
    if "\x00" in where:
        return None
    template, ints = integers(where)
    slots: list[Any] = list(ints)
    names: list[Any] = []
    for name, value in given.values.items():
        if type(value) not in _SLOT_TYPES:
            return None
        names.append(name)
        slots.append(value)
    alternates: list[Any] = []
    for dim, keys in given.alternates.items():
        for k, value in keys.items():
            if type(value) not in _SLOT_TYPES:
                return None
            alternates.append((dim, k))
            slots.append(value)
    binds: list[Any] = []
    for name, value in (bind or {}).items():
        if type(value) in _SLOT_TYPES:
            binds.append((name, type(value)))
            slots.append(value)
        elif type(value) in (list, tuple) and all(type(v) in _SLOT_TYPES for v in value):
            binds.append((name, type(value), tuple(type(v) for v in value)))
            slots.extend(value)
        else:
            return None
    if any(type(v) is str and "\x00" in v for v in slots):
        return None
    return CallShape((template, tuple(names), tuple(alternates), tuple(binds)), slots, len(ints))


def split_slots(
    shape: CallShape, added: Sequence[str], values: Sequence[Any]
) -> tuple[list[int], dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """Slot values (or markers) laid out as `call_shape` made them, plus ``added`` governors at the end, back
    into the inputs of the statement builders: integer literals, data ID values, alternate keys, binds."""
    _, names, alternate_keys, binds = shape.key
    at = shape.n_ints
    ints = list(values[:at])
    data_id = dict(zip(names, values[at : at + len(names)], strict=True))
    at += len(names)
    alternates: dict[str, dict[str, Any]] = {}
    for dim, k in alternate_keys:
        alternates.setdefault(dim, {})[k] = values[at]
        at += 1
    bind: dict[str, Any] = {}
    for b in binds:
        if len(b) == 2:
            bind[b[0]] = values[at]
            at += 1
        else:
            bind[b[0]] = b[1](values[at : at + len(b[2])])
            at += len(b[2])
    data_id.update(zip(added, values[at:], strict=True))
    return ints, data_id, alternates, bind


@dataclass(frozen=True, slots=True)
class Plan:
    """The SQL of one shape and how to fill its parameters from a call's slots."""

    sql: str
    constants: tuple[Any, ...]
    """Parameter values in order (positional) with the slots' places holding None."""
    places: tuple[tuple[int, int], ...]
    """(parameter index, slot index) pairs."""
    names: tuple[str, ...] | None
    """Parameter names for a named paramstyle (PostgreSQL's ``%(name)s``); None for positional (SQLite)."""

    def parameters(self, slots: Sequence[Any]) -> list[Any] | dict[str, Any]:
        """The parameters of a call whose slot values are ``slots``."""
        values = list(self.constants)
        for at, slot in self.places:
            values[at] = slots[slot]
        return values if self.names is None else dict(zip(self.names, values, strict=True))


def _compiled(stmt: Any, dialect: Any) -> tuple[str, list[str], dict[str, Any]]:
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    order = list(compiled.positiontup) if compiled.positiontup is not None else list(params)
    return compiled.string, order, params


def derive_plan(real: Any, marked: Any, dialect: Any, slots: Sequence[Any], markers: Sequence[Any]) -> Plan | None:
    """The plan of statement ``real`` (built with ``slots``), read from ``marked`` (built with ``markers``).

    Returns None when the two disagree anywhere but in the slots' values, or a constant equals a marker:
    then this shape is not planned and keeps the ordinary path.  ``marked is real`` (a shape without slots:
    the rebuild would take the very same inputs) compiles once, and every parameter is a constant.
    """
    sql, order, params = _compiled(marked, dialect)
    real_sql, real_order, real_params = (sql, order, params) if marked is real else _compiled(real, dialect)
    if dialect.name == "postgresql":  # a literal's cast follows its value's size; markers make it BIGINT
        same_sql = _PG_INT_CAST.sub("::BIGINT", sql) == _PG_INT_CAST.sub("::BIGINT", real_sql)
    else:
        same_sql = sql == real_sql
    if not same_sql or order != real_order:
        return None
    by_id = {id(m): i for i, m in enumerate(markers)}
    constants: list[Any] = []
    places: list[tuple[int, int]] = []
    for at, name in enumerate(order):
        value = params[name]
        slot = by_id.get(id(value))
        if slot is None:
            if any(value == m for m in markers if type(m) is type(value)):
                return None  # a marker changed on its way into the statement: cannot tell places apart
            constants.append(value)
        else:
            constants.append(None)
            places.append((at, slot))
    plan = Plan(sql, tuple(constants), tuple(places), None if dialect.positional else tuple(order))
    filled = plan.parameters(slots)
    expected = [real_params[n] for n in real_order]
    got = filled if isinstance(filled, list) else [filled[n] for n in order]
    if got != expected or [type(v) for v in got] != [type(v) for v in expected]:
        return None
    return plan


class PlanCache:
    """Plans of one registry, least recently used first; at most 500 shapes."""

    def __init__(self) -> None:
        self._entries: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        """The entry under ``key``, or None."""
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: Any, value: Any) -> None:
        """Remember ``value`` under ``key``, forgetting the least recently used entry when full."""
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > _MAX_ENTRIES:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every plan."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_CACHES: WeakKeyDictionary[Any, PlanCache] = WeakKeyDictionary()


def plan_cache(registry: Registry) -> PlanCache:
    """The plan cache of ``registry`` (made on first use, dropped with the registry)."""
    found = _CACHES.get(registry)
    if found is None:
        found = _CACHES[registry] = PlanCache()
    return found


# -- the cache's use by the query functions ---------------------------------------------------------------------


def shape_of(where: str, given: DataIdInput, bind: Mapping[str, Any] | None, leaves: Sequence[CollectionRecord]) -> Any:
    """The call's shape when it may use query plans: not with CALIBRATION collections (temporal joins)."""
    if any(c.type is CollectionType.CALIBRATION for c in leaves):
        return None
    return call_shape(where, given, bind)


NOT_PLANNED = ("not planned",)
"""The entry of a shape whose plan could not be derived, so that later calls do not try again."""


def cached_plans(registry: Registry, key: Any, given: DataIdInput) -> tuple[Any, dict[str, Any]] | None:
    """The cached entry for a call of shape ``key`` and the governors it adds, or None (not planned yet).

    The entry is `NOT_PLANNED` for a shape that takes the ordinary path.  Governors are inferred on every
    call: whether a repository has one instrument can change between calls.
    """
    cache = plan_cache(registry)
    inputs = cache.get(("governors", key))
    if inputs is None:
        return None
    added = infer_governors(registry, list(given.values) + list(given.alternates), *inputs)
    entry = cache.get(("plans", key, tuple(added)))
    return None if entry is None else (entry, added)


def remember_plans(
    registry: Registry,
    key: Any,
    shape: CallShape,
    node: Any,
    constraints: Constraints,
    statements: list[tuple[Any, Any]],
    entry: Any,
) -> tuple[list[Plan], SpatialProgram | None] | None:
    """Derive and cache the plans of a call that ran the ordinary way; return them (None: not plannable).

    ``statements`` are pairs of the call's own statement and a function ``(node, constraints) → statement``
    that builds the same query from other inputs (here: markers).
    """
    given_names = shape.key[1]
    added = [name for name in constraints.values if name not in given_names]
    cache = plan_cache(registry)
    cache.put(("governors", key), governor_inputs(registry.universe, node))
    if constraints.estimated:  # its range estimates (`_expressions`) are in the statement
        cache.put(("plans", key, tuple(added)), NOT_PLANNED)
        return None
    program = None
    if constraints.spatial:  # planned only when its keys are arrays its program fills (`_spatial_plan`)
        one = len(constraints.spatial) == 1 and len(statements) == 1 and statements[0][0] is not None
        program = constraints.spatial[0].program if one else None
        if program is None:
            cache.put(("plans", key, tuple(added)), NOT_PLANNED)
            return None
    plans: list[Plan] | None = None
    # A where text whose integers are not the tree's (``-5`` folds the sign in) has no plan, nor one whose
    # arithmetic takes a float bind: which values it takes depends on them (`_expressions.FLOAT_RANGE`), and
    # a plan would skip that check.
    floats = any(type(v) is float for v in shape.slots) and _has_arithmetic(node)
    if not floats and int_literals(node) == shape.slots[: shape.n_ints]:
        slots = shape.slots + [constraints.values[name] for name in added]
        marks = markers(slots)
        ints, values, alternates, bind = split_slots(shape, added, marks)
        marked = Constraints(values, alternates, bind)
        dialect = registry.db.engine.dialect
        try:
            # Without slots the rebuild would take the same tree and equal constraints as the call's own build:
            # its statement is the plan's, built once and compiled once (W1's query_all and query_data_ids;
            # a second build and compile were 0.5-2 ms of a first call, issue 26).
            same = not slots and program is None and marked == constraints
            with checking_only() if program is not None else nullcontext():  # no spatial SQL for markers
                rebuilt = [
                    real if same else rebuild(with_int_literals(node, ints), marked) for real, rebuild in statements
                ]
        except QuerySyntaxError:  # markers the expression refuses (arithmetic beyond FLOAT_RANGE): no plan
            rebuilt = None
        if rebuilt is not None and program is not None:  # the arrays are slots after the call's own
            other = marked.spatial[0].program if len(marked.spatial) == 1 else None
            if other is None or len(other.placeholders) != len(program.placeholders):
                rebuilt = None
            else:
                slots, marks = slots + list(program.placeholders), marks + list(other.placeholders)
        derived = (
            [None]
            if rebuilt is None
            else [derive_plan(real, m, dialect, slots, marks) for (real, _), m in zip(statements, rebuilt, strict=True)]
        )
        plans = None if None in derived else [p for p in derived if p is not None]
    cache.put(("plans", key, tuple(added)), NOT_PLANNED if plans is None else (plans, entry, program))
    return None if plans is None else (plans, program)


@dataclass(frozen=True, slots=True)
class CachedPlans:
    """The plans a call of a known shape runs on, the values for their slots, and what was cached with them."""

    plans: list[Plan]
    slots: list[Any]
    entry: Any
    spatial: Callable[[], list[Any]] | None = None
    """A spatial plan's step (`_spatial_plan`): the arrays that follow ``slots``, read when rows are first read."""


Make = Callable[[Callable[[], Any], Constraints, CachedPlans | None], tuple[R, list[tuple[Any, Any]], Any]]
"""How a query function makes its result: ``make(node, constraints, cached)`` returns the result and, when
``cached`` is None (a fresh build), the pairs (statement built now, rebuilder) and the entry to cache."""


def plan_or_build(
    registry: Registry,
    where: str,
    bind: Mapping[str, Any] | None,
    given: DataIdInput,
    leaves: Sequence[CollectionRecord],
    key_of: Callable[[Any], Any],
    make: Make[R],
) -> R:
    """The result of one query call: on the cached plans of its shape when there are some, else built now.

    The one place the plan cache is consulted and filled.  ``key_of(shape_key)`` adds what the caller's
    shape depends on (dataset types, collections, ordering) to the shape of the ``where``/data ID/bind.
    A cached call parses ``where`` only if a statement is needed after all (``explain``, ``count``); a fresh
    one parses it now, builds its statements (errors surface at the call), derives the plans and runs on them.
    """
    shape = shape_of(where, given, bind, leaves)
    # with statistics, calls with range estimates are not planned: a shape planned before they came is built anew
    key = None if shape is None else (key_of(shape.key), registry.estimates.active())
    if key is not None:
        found = cached_plans(registry, key, given)
        if found is not None and found[0] is NOT_PLANNED:
            key = None
        elif found is not None:
            (plans, entry, program), added = found
            parsed: list[Any] = []

            def node() -> Any:
                if not parsed:
                    parsed.append(parse_where(where))
                return parsed[0]

            constraints = Constraints.of(given, bind, added)
            spatial = None if program is None else _spatial_step(registry, program, where, node, constraints)
            cached = CachedPlans(plans, shape.slots + list(added.values()), entry, spatial)
            return make(node, constraints, cached)[0]
    tree, constraints = prepare(registry, where, bind, given)
    result, statements, entry = make(lambda: tree, constraints, None)
    if key is not None and shape is not None:
        remembered = remember_plans(registry, key, shape, tree, constraints, statements, entry)
        if remembered is not None:
            # The plans reproduce this call's SQL and parameters exactly (`derive_plan`): running on them
            # saves compiling the statement a third time (1 ms of a first query_data_ids, issue 26).
            plans, program = remembered
            governors = [value for name, value in constraints.values.items() if name not in shape.key[1]]
            spatial = None if program is None else _spatial_step(registry, program, where, lambda: tree, constraints)
            result.run_on(CachedPlans(plans, shape.slots + governors, entry, spatial))
    return result


def _spatial_step(
    registry: Registry, program: SpatialProgram, where: str, node: Callable[[], Any], constraints: Constraints
) -> Callable[[], list[Any]]:
    """The arrays of a spatial plan, read when the rows are; its constant regions are made now (errors at the
    call, as on the ordinary path)."""
    constants = program.constants(where, node, constraints.bind, registry)
    return lambda: program.run(registry, where, constants, constraints)


def _has_arithmetic(node: Any) -> bool:
    """Whether an expression tree holds arithmetic (``+ - * / %``) anywhere."""
    if isinstance(node, Arith):
        return True
    for f in dataclasses.fields(node) if dataclasses.is_dataclass(node) else ():
        value = getattr(node, f.name)
        if any(_has_arithmetic(child) for child in (value if isinstance(value, tuple) else (value,))):
            return True
    return False


def leaves_key(leaves: Sequence[CollectionRecord]) -> tuple[Any, ...]:
    """What a search path contributes to a statement: its collections' ids and types (names for messages)."""
    return tuple((c.id, c.type, c.name) for c in leaves)


def type_key(stored: StoredDatasetType) -> tuple[Any, ...]:
    """What a dataset type contributes to a statement: its id and its tables (named after its dimensions)."""
    return (stored.id, stored.tags.name, stored.calibs is not None)
