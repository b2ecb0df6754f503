"""Spatial queries on cached query plans (PostgreSQL): the region check's answer as array parameters.

A spatial query's statement holds the keys its exact region check passed (`skybutler.query._spatial`), so it
used to differ at every call and was never planned (`skybutler.query._plans`): each call built its SQL twice
(once to check the call, once with the keys), then PostgreSQL planned it.  On PostgreSQL the keys can be
parameters of a fixed shape instead: ``(a, b) IN (SELECT unnest(:a), unnest(:b))``, one array per key column.
Then the statement is the same for every call of a shape, and the shape gets a plan like any other query; its
spatial step is kept beside the plan as a `SpatialProgram`: what to read and check to fill those arrays.

A program has a step per condition the spatial step adds, of two kinds, the two that need nothing of the
query but its data ID and ``where`` values:

* `Near`: the records of an element near constant regions (``POINT``, ``CIRCLE``, binds), read from the
  element's overlap index by the regions' pixels (`_spatial._near_constants`);
* `Fixed`: the records of an element near the one record of another that the data ID gives (the patches of a
  visit, `skybutler.query._spatial_fixed`).

Any other spatial step (two elements joined over the whole query, skypix dimensions, terms under ``OR``, two
constants) keeps the ordinary path.  A program is recorded while the call's statement is built to check it
(`_spatial.checking_only`), where the arrays are placeholders; the plan is derived from that statement and
one built with markers, as for other shapes, the placeholders being slots of their own.  When a call's rows
are read, the program runs (one statement per step, prepared by psycopg after five runs like the plan's)
and its keys fill the arrays.  The constant regions are made from the call's values at the call, so a bad
coordinate fails there, as on the ordinary path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import BindParameter

if TYPE_CHECKING:
    from skybutler.query._builder import QueryBuilder
    from skybutler.query._constraints import Constraints
    from skybutler.query._spatial import Operand, SpatialReport
    from skybutler.registry import Registry

__all__ = ["Fixed", "Near", "SpatialProgram", "record_program"]


@dataclass(frozen=True, slots=True)
class Near:
    """Records of ``element`` near constant regions: ``consts`` are (term index, side 0 or 1) of the constants."""

    element: str
    consts: tuple[tuple[int, int], ...]
    columns: int


@dataclass(frozen=True, slots=True)
class Fixed:
    """Records of ``other`` near the record of ``fixed`` the data ID gives."""

    fixed: str
    other: str
    fixed_first: bool
    columns: int


@dataclass(frozen=True, slots=True)
class SpatialProgram:
    """The steps filling a spatial plan's arrays, and the placeholders standing for them in the statement."""

    steps: tuple[Near | Fixed, ...]
    placeholders: tuple[list[Any], ...]
    """One list object per array parameter, in step order; identified by identity (`_plans.derive_plan`)."""
    terms: tuple[str, ...]
    """The spatial terms, for the report (`SpatialReport.terms`)."""
    nodes: dict[str, list[Any]] = field(default_factory=dict, compare=False)
    """``where`` text → its spatial terms (a text holds the same terms whatever its bind values)."""

    def constants(self, text: str, node: Callable[[], Any], bind: Mapping[str, Any], registry: Registry) -> list[Any]:
        """The constant regions of the call (``node()`` its parsed ``where``), in step order; errors as at a call."""
        from skybutler.query._builder import QueryBuilder
        from skybutler.query._spatial import _operand, split_spatial

        terms = self.nodes.get(text)
        if terms is None:  # parsed once per text (substituting a parse's integers costs 0.1 ms a call)
            if len(self.nodes) >= 100:
                self.nodes.clear()
            terms = self.nodes[text] = split_spatial(text, node(), bind)[1]
        builder = QueryBuilder(registry, text)
        out: list[Any] = []
        for step in self.steps:
            if isinstance(step, Near):
                for i, side in step.consts:
                    out.append(_operand(builder, terms[i].left if side == 0 else terms[i].right, bind).region)
        return out

    def run(self, registry: Registry, text: str, constants: list[Any], constraints: Constraints) -> list[Any]:
        """The arrays of a call: read, check exactly, and report (appended to ``constraints.spatial``)."""
        from skybutler.query._builder import QueryBuilder
        from skybutler.query._spatial import SpatialReport, _near_constants
        from skybutler.query._spatial_fixed import fixed_pair_keys

        builder = QueryBuilder(registry, text)
        builder.values = dict(constraints.values)
        common = registry.universe.skypix_common
        assert common is not None
        report = SpatialReport(list(self.terms))
        arrays: list[Any] = []
        at = 0
        for n, step in enumerate(self.steps):
            if isinstance(step, Near):
                consts = constants[at : at + len(step.consts)]
                at += len(step.consts)
                candidates, keys = _near_constants(builder, step.element, consts, common)
                report.passed = len(keys) if n == 0 else min(report.passed, len(keys))
            else:
                candidates, keys = fixed_pair_keys(builder, step.fixed, step.other, fixed_first=step.fixed_first)
                report.passed = len(keys)
            report.candidates += candidates
            distinct = sorted(set(keys), key=repr)
            if distinct:
                arrays.extend(list(column) for column in zip(*distinct, strict=True))
            else:
                arrays.extend([] for _ in range(step.columns))
        constraints.spatial.append(report)
        return arrays


def record_program(
    builder: QueryBuilder, pairs: list[tuple[Operand, Operand]], report: SpatialReport
) -> SpatialProgram | None:
    """While a call is checked (no SQL), add ``pairs``' conditions with placeholder arrays to ``builder``, and
    return the program that fills them; None when the pairs need the ordinary path (see the module docstring).

    ``pairs`` are the region terms of the ``where`` in order (none with a skypix side), then the automatic
    join if there is one; they decide the same way as `_spatial._apply_pairs`.
    """
    from skybutler.query._spatial import key_columns
    from skybutler.query._spatial_fixed import fixed_side

    universe = builder.universe
    if universe.skypix_common is None or any(a.element is None and b.element is None for a, b in pairs):
        return None
    elements = sorted({o.element for p in pairs for o in p if o.element is not None})
    steps: list[Near | Fixed] = []
    if all(a.element is None or b.element is None for a, b in pairs):
        for element in elements:
            mine = [(i, a) for i, (a, b) in enumerate(pairs) if element in (a.element, b.element)]
            consts = [(i, 0 if a.element is None else 1) for i, a in mine]
            steps.append(Near(element, tuple(consts), len(key_columns(builder, element))))
    else:
        fixed = fixed_side(builder, pairs)
        if fixed is None:
            return None
        a, b = pairs[0]
        other = b.element if a.element == fixed else a.element
        assert other is not None
        steps.append(Fixed(fixed, other, a.element == fixed, len(key_columns(builder, other))))
    placeholders: list[list[Any]] = []
    for step in steps:
        element = step.element if isinstance(step, Near) else step.other
        table = builder.add_element(element)
        columns = [table.c[c] for c in key_columns(builder, element)]
        arrays = [[f"\x01skybutler-spatial-{id(builder)}-{len(placeholders) + i}\x01"] for i in range(len(columns))]
        placeholders.extend(arrays)
        builder.conditions.append(array_keys(columns, arrays, semi=isinstance(step, Fixed)))
    return SpatialProgram(tuple(steps), tuple(placeholders), tuple(report.terms))


def array_keys(columns: list[Any], arrays: list[Any], *, semi: bool = False) -> Any:
    """The rows whose ``columns`` hold one of the keys given as one array parameter per column.

    ``a = ANY(:a) AND b = ANY(:b) AND (a, b) = ANY(ARRAY(SELECT (k.a, k.b) FROM unnest(:a, :b) AS k))``: the
    per-column ``ANY`` are index conditions (a superset: every combination of the columns' values), the row
    comparison keeps the exact keys.  No relation is added to the join: with the keys as a join or a semi-join
    (``IN (SELECT unnest(...))``) PostgreSQL took 70 to 100 ms to plan a POINT query (its join search grows
    with the relations), against 4 ms this way (EXPLAIN ANALYZE, 100 000 regions, load 10).

    ``semi``: the semi-join after all, for the records near a fixed one (the patches of a visit).  Its plans
    are generic and kept (`_pg_generic`), so its planning (1.4 ms, quiet) is paid by a shape's first calls
    only, while the ``ANY`` form's generic plan, costing each array at ten values, scanned the whole patch table
    (three arrays of unknown length make an index scan look like a thousand probes): 0.45 against 0.32 ms a
    call, server and round trip, with 10 000 patches (issue 22).  For records near a constant region (a POINT)
    the ``ANY`` form stays the faster: 0.23 against 0.27 ms with 100 000 regions, and 10 ms to plan.
    """
    from sqlalchemy.dialects.postgresql import ARRAY

    params = [
        BindParameter(None, values, type_=ARRAY(c.type), unique=True) for c, values in zip(columns, arrays, strict=True)
    ]
    names = [f"k{i}" for i in range(len(columns))]
    if semi:
        keys = sa.func.unnest(*params).table_valued(*names).render_derived(name="spatial_keys")
        return sa.tuple_(*columns).in_(sa.select(*keys.c))
    conditions = [c == sa.any_(p) for c, p in zip(columns, params, strict=True)]
    if len(columns) > 1:
        keys = sa.func.unnest(*params).table_valued(*names).render_derived(name="spatial_keys")
        rows = sa.func.array(sa.select(sa.tuple_(*keys.c)).scalar_subquery())
        conditions.append(sa.tuple_(*columns) == sa.any_(rows))
    return sa.and_(*conditions)
