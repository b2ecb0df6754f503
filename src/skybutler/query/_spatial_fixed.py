"""A spatial join one of whose sides is a single record, fixed by the call's data ID (the patches of one visit).

The general join of two elements (`skybutler.query._spatial`) prefilters over the whole query: its every
table, both overlap tables joined on their pixels, with every condition, so that PostgreSQL plans an
eight-table join for each call (most of a patches-of-a-visit query's server time).  When the data ID gives
every key of one element (``instrument`` and ``visit``), that side is one record, and every row of the query
has it.  Then one small statement of fixed shape finds the other element's records near it, through the
two overlap indexes alone: the other element's keys and regions whose pixels are among the fixed record's,
with the fixed record's region beside them.  The exact check is sphgeom's, as in the general join, and the
query is constrained by the other element's passing keys only (the fixed one's are in its data ID).  The
statement is built once per pair of elements, so the database prepares it once (psycopg after five runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.query._spatial_keys import in_keys

if TYPE_CHECKING:
    from skybutler.query._builder import QueryBuilder
    from skybutler.query._spatial import Operand, SpatialReport

__all__ = ["apply_fixed_pair", "fixed_pair_keys", "fixed_side"]


def fixed_side(builder: QueryBuilder, pairs: list[tuple[Operand, Operand]]) -> str | None:
    """The element the data ID fixes to one record, when ``pairs`` is one join of two elements with such a side."""
    if len(pairs) != 1:
        return None
    a, b = pairs[0]
    if a.element is None or b.element is None or a.element == b.element:
        return None
    for element in (a.element, b.element):
        if all(d in builder.values for d in builder.universe[element].required):
            return element
    return None


def apply_fixed_pair(
    builder: QueryBuilder, pair: tuple[Operand, Operand], fixed: str, keys: dict[str, list[Any]], report: SpatialReport
) -> None:
    """Constrain ``builder`` to the records of the other element of ``pair`` whose regions overlap ``fixed``'s."""
    a, b = pair
    other = b.element if a.element == fixed else a.element
    assert other is not None
    candidates, passing = fixed_pair_keys(builder, fixed, other, fixed_first=a.element == fixed)
    report.candidates += candidates
    report.passed = len(passing)
    builder.conditions.append(in_keys(keys[other], passing, dialect=builder.registry.db.dialect))


def fixed_pair_keys(
    builder: QueryBuilder, fixed: str, other: str, *, fixed_first: bool
) -> tuple[int, list[tuple[Any, ...]]]:
    """How many records of ``other`` share a pixel with the record of ``fixed`` the data ID gives
    (``builder.values``), and the keys of those whose regions overlap its region (exactly)."""
    from skybutler.query._spatial import _sphgeom, key_columns, overlap, read_rows

    required = list(builder.universe[fixed].required)
    stmt = _statement(builder, fixed, other)
    params = {f"fixed_{i}": builder.values[d] for i, d in enumerate(required)}
    n = len(key_columns(builder, other))
    found: dict[tuple[Any, ...], Any] = {}
    fixed_data = None
    for row in read_rows(builder, stmt, params):
        found[tuple(row[:n])] = row[n]
        fixed_data = row[n + 1]
    passing: list[tuple[Any, ...]] = []
    if fixed_data is not None:
        decode = _sphgeom().Region.decode
        region = decode(bytes(fixed_data))
        for key, data in found.items():
            if data is None:
                continue
            mine = decode(bytes(data))
            if overlap(region, mine) if fixed_first else overlap(mine, region):
                passing.append(key)
    return len(found), passing


def _statement(builder: QueryBuilder, fixed: str, other: str) -> Any:
    """``SELECT other's keys, other.region, (fixed's region)`` of the other records sharing a pixel with the
    fixed one, whose keys are the parameters ``fixed_0, fixed_1, ...``; built once per pair of elements.

    SQLite (3.15 and later) takes the row-value ``IN (SELECT ...)`` too."""
    from skybutler.query._spatial import key_columns

    records = builder.registry.records
    index = records.overlap_table(other)
    cache: dict[Any, Any] = index.info.setdefault("skybutler_fixed", {})
    stmt = cache.get(fixed)
    if stmt is not None:
        return stmt
    universe = builder.universe
    fixed_table, fixed_index = records.table(fixed), records.overlap_table(fixed)
    table = records.table(other)
    params = [sa.bindparam(f"fixed_{i}", type_=fixed_index.c[d].type) for i, d in enumerate(universe[fixed].required)]
    own_fixed = key_columns(builder, fixed)
    region = (
        sa.select(fixed_table.c.region)
        .where(*(fixed_table.c[c] == p for c, p in zip(own_fixed, params, strict=True)))
        .scalar_subquery()
    )
    pixels = sa.select(fixed_index.c.skypix_index).where(
        *(fixed_index.c[d] == p for d, p in zip(universe[fixed].required, params, strict=True))
    )
    own = key_columns(builder, other)
    # each record once (a semi-join), not once per shared pixel: 43 rows, not 141, for the patches of a visit
    # (0.50 against 1.47 ms of execution, EXPLAIN ANALYZE at load 10)
    near = sa.select(*(index.c[d] for d in universe[other].required)).where(index.c.skypix_index.in_(pixels))
    stmt = cache[fixed] = sa.select(*(table.c[o] for o in own), table.c.region, region).where(
        sa.tuple_(*(table.c[o] for o in own)).in_(near)
    )
    return stmt
