"""Spatial ``OVERLAPS`` anywhere in a `where` expression: under ``OR``, ``NOT`` or nested deeper.

A term of the top-level ``AND`` filters the whole query, so it may be prefiltered together with the query's
other conditions (`skybutler.query._spatial`).  A term under ``OR`` or ``NOT`` is not a filter: the rows it
rejects may come back through another branch, or be the very rows ``NOT`` selects.  So such a term is decided
on its own, exactly, before the expression is compiled: the keys of the records (or record pairs) whose
regions really overlap become the SQL condition ``key IN (...)`` that stands in the term's place, and ``OR``
and ``NOT`` then work on it as on any condition.

The set is found soundly through the skypix overlap index: every record whose region overlaps a constant has
a common-level pixel in the constant's envelope, and any two overlapping records share one, so the index
gives a superset, which sphgeom then checks.  Only the query's data-ID constraints (top-level conditions
applied to every row) narrow it.  The reference butler refuses spatial terms under ``OR`` or ``NOT``.

A skypix region (``htm7.region``) is compared only in a term of the top-level ``AND``: its pixel values are
made for the query from the region it is compared with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.query._ast import Overlaps
from skybutler.query._parser import syntax_error
from skybutler.query._spatial import (
    Operand,
    _near_constants,
    _operand,
    _pos,
    _sphgeom,
    is_checking,
    key_columns,
    overlap,
    read_rows,
)
from skybutler.query._spatial_keys import in_keys

if TYPE_CHECKING:
    from skybutler.query._builder import QueryBuilder

__all__ = ["nested_conditions"]


def nested_conditions(builder: QueryBuilder, nodes: list[Overlaps], bind: Mapping[str, Any]) -> dict[int, Any]:
    """The exact SQL condition standing for each nested spatial term, by ``id`` of its node.

    Raises
    ------
    QuerySyntaxError
        A nested term compares a skypix region, or an operand is not a region.
    """
    out: dict[int, Any] = {}
    for node in nodes:
        a, b = _operand(builder, node.left, bind), _operand(builder, node.right, bind)
        if a.skypix or b.skypix:
            raise syntax_error(
                builder.text, _pos(node), f"{a.skypix or b.skypix}.region can only be compared in a term of the "
                "top-level AND (not under OR or NOT): its pixels are made from the region it is compared with.",
            )  # fmt: skip
        out[id(node)] = sa.true() if is_checking() else _exact(builder, a, b)  # checked: no SQL yet
    return out


def _exact(builder: QueryBuilder, a: Operand, b: Operand) -> Any:
    if a.element is None and b.element is None:
        return sa.true() if overlap(a.region, b.region) else sa.false()
    if a.element is None or b.element is None:
        element, const = (a.element, b.region) if a.element is not None else (b.element, a.region)
        assert element is not None
        table = builder.add_element(element)
        keys = [table.c[c] for c in key_columns(builder, element)]
        return in_keys(keys, _records_near(builder, element, const), dialect=builder.registry.db.dialect)
    if a.element == b.element:  # a region overlaps itself: every record that has one
        return builder.add_element(a.element).c.region.is_not(None)
    return _pairs(builder, a.element, b.element)


def _records_near(builder: QueryBuilder, element: str, const: Any) -> list[tuple[Any, ...]]:
    """Keys of the records of ``element`` whose regions overlap ``const``, exactly."""
    common = builder.universe.skypix_common
    if common is not None:
        return _near_constants(builder, element, [const], common)[1]
    table = builder.registry.records.table(element)
    own = key_columns(builder, element)
    stmt = sa.select(*(table.c[c] for c in own), table.c.region).where(table.c.region.is_not(None))
    decode = _sphgeom().Region.decode
    return [tuple(row[:-1]) for row in read_rows(builder, stmt) if overlap(decode(bytes(row[-1])), const)]


def _pairs(builder: QueryBuilder, first: str, second: str) -> Any:
    """``(keys of first, keys of second) IN (pairs whose regions overlap)``, the pairs found through the index
    (a shared common-level pixel), among the rows the query's joins and data-ID constraints allow."""
    tables = {e: builder.add_element(e) for e in (first, second)}
    keys = {e: [tables[e].c[c] for c in key_columns(builder, e)] for e in (first, second)}
    from_, where = builder.from_, list(builder.conditions)
    common = builder.universe.skypix_common
    if common is not None:
        records = builder.registry.records
        pixels = []
        for n, element in enumerate((first, second)):
            index = records.overlap_table(element).alias(f"nsp{n}")
            required = builder.universe[element].required
            on = [index.c[d] == col for d, col in zip(required, keys[element], strict=True)]
            from_ = from_.join(index, sa.and_(*on))
            pixels.append(index.c.skypix_index)
        where.append(pixels[0] == pixels[1])
    columns = [*keys[first], *keys[second]]
    stmt = sa.select(*columns, tables[first].c.region, tables[second].c.region).select_from(from_)
    stmt = stmt.where(*where).distinct() if where else stmt.distinct()
    decode = _sphgeom().Region.decode
    decoded: dict[bytes, Any] = {}
    passing = []
    for row in read_rows(builder, stmt):
        one, two = row[-2], row[-1]
        if one is None or two is None:
            continue
        regions = []
        for data in (bytes(one), bytes(two)):
            region = decoded.get(data)
            if region is None:
                region = decoded[data] = decode(data)
            regions.append(region)
        if overlap(*regions):
            passing.append(tuple(row[: len(columns)]))
    return in_keys(columns, passing, dialect=builder.registry.db.dialect)
