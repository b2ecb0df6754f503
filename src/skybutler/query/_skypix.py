"""Skypix dimensions in queries: pixel values computed from regions, never read from a table.

A skypix dimension (``htm7``, ``healpix11``) has no records; its values in a query come from a region it must
overlap, exactly: a constant (``htm7.region OVERLAPS CIRCLE(...)``), an element's region (``htm7.region
OVERLAPS patch.region``), or, when the query says nothing, the most specific visit/detector or tract/patch
region of its dimensions (as the reference butler joins them).  For each region the pixels of its envelope
are checked against it with sphgeom; the (region key, pixel) pairs that overlap then join the query as a
``VALUES`` table.  A dimension a table already provides (a dataset type with an ``htm7`` dimension) is
constrained to the overlapping pixels instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.dimensions._regions import pixelization
from skybutler.errors import DataIdError
from skybutler.query._spatial import OBSERVATION, SKYMAP, family_member, in_keys, key_columns, overlap, read_rows

if TYPE_CHECKING:
    from skybutler.query._builder import QueryBuilder
    from skybutler.query._spatial import Operand, SpatialReport

__all__ = ["apply_skypix"]

MAX_PIXELS = 1_000_000
"""The most (region, pixel) pairs one query may make: a fine level over a large region is refused, not slow."""


def _pixels(name: str, region: Any) -> list[int]:
    """The pixels of skypix dimension ``name`` that overlap ``region`` (a region or a ``LonLat``), exactly."""
    import lsst.sphgeom as sg

    pix = pixelization(name)
    if isinstance(region, sg.LonLat):
        return [int(pix.index(sg.UnitVector3d(region)))]
    out: list[int] = []
    for begin, end in pix.envelope(region, 0).ranges():
        if len(out) + end - begin > MAX_PIXELS:
            raise DataIdError(
                f"The region overlaps more than {MAX_PIXELS} {name} pixels; use a coarser level or a smaller region."
            )
        out += [p for p in range(begin, end) if overlap(pix.pixel(p), region)]
    return out


def apply_skypix(builder: QueryBuilder, terms: list[tuple[Operand, Operand]], report: SpatialReport) -> None:
    """Give ``builder`` the values of the skypix dimensions it needs or its terms name (see the module docstring).

    Raises
    ------
    DataIdError
        A skypix dimension has no region to be computed from.
    """
    wanted = dict(builder.skypix)
    for a, b in terms:
        for side in (a, b):
            if side.skypix and side.skypix not in builder.dims:
                wanted.setdefault(side.skypix, None)
    for name in sorted({*wanted, *(s.skypix for p in terms for s in p if s.skypix)}):
        partners = [b if a.skypix == name else a for a, b in terms if name in (a.skypix, b.skypix)]
        if any(p.skypix for p in partners):
            raise DataIdError(f"Two skypix regions cannot be compared ({name}); compare one with an element's region.")
        if not partners:
            element = family_member(builder.dims, OBSERVATION) or family_member(builder.dims, SKYMAP)
            if element is None:
                raise DataIdError(
                    f"{name} values are computed from regions, and this query has none: add a visit, detector, "
                    f"tract or patch, or a condition such as {name}.region OVERLAPS POINT(ra, dec)."
                )
            from skybutler.query._spatial import Operand

            partners = [Operand(f"{element}.region", element=element)]
        _one(builder, name, partners, wanted.get(name), report)


def _one(builder: QueryBuilder, name: str, partners: list[Operand], value: Any, report: SpatialReport) -> None:
    elements = sorted({p.element for p in partners if p.element is not None})
    if len(elements) > 1:
        raise DataIdError(f"{name} is compared with the regions of {elements}; compare it with one element's.")
    consts = [p.region for p in partners if p.element is None]
    keys: list[Any] = []
    rows: list[tuple[Any, ...]] = []
    if elements:
        (element,) = elements
        table = builder.add_element(element)
        keys = [table.c[c] for c in key_columns(builder, element)]
        stmt = builder.select([*keys, table.c.region]).distinct()
        sphgeom_decode = _decoder()
        for row in read_rows(builder, stmt):
            if row[-1] is None:
                continue
            region = sphgeom_decode(bytes(row[-1]))
            pixels = _pixels(name, region)
            rows += [(*row[:-1], p) for p in pixels if all(overlap(region, c) for c in consts)]
            if len(rows) > MAX_PIXELS:
                raise DataIdError(f"The query makes more than {MAX_PIXELS} (region, {name}) pairs; narrow it.")
    else:
        allowed: set[int] | None = None
        for const in consts:
            found = set(_pixels(name, const))
            allowed = found if allowed is None else allowed & found
        rows = [(p,) for p in sorted(allowed or ())]
    if value is not None:
        rows = [r for r in rows if r[-1] == value]
    report.candidates += len(rows)
    report.passed = min(report.passed, len(rows)) if report.passed else len(rows)
    column = builder.dims.get(name)
    if column is not None:  # a table has it: keep its rows whose pixel (and key) overlap
        builder.conditions.append(in_keys([*keys, column], rows))
        return
    types = [k.type for k in keys] + [sa.BigInteger()]
    if not rows:
        builder.conditions.append(sa.false())
        rows = [tuple(None for _ in types)]
    # a plain VALUES list (its columns are column1, column2, ... on SQLite and PostgreSQL alike; SQLite cannot
    # name them in the alias), one parameter per value
    marks = ", ".join("(" + ", ".join(f":{name}_{i}_{j}" for j in range(len(types))) + ")" for i in range(len(rows)))
    params = {f"{name}_{i}_{j}": v for i, row in enumerate(rows) for j, v in enumerate(row)}
    columns = [sa.column(f"column{j + 1}", t) for j, t in enumerate(types)]
    values = sa.text(f"VALUES {marks}").bindparams(**params).columns(*columns).subquery(f"skypix_{name}")
    on = sa.and_(*(k == values.c[f"column{i + 1}"] for i, k in enumerate(keys))) if keys else sa.true()
    builder.from_ = values if builder.from_ is None else builder.from_.join(values, on)
    builder.dims[name] = values.c[f"column{len(types)}"]


def _decoder() -> Any:
    import lsst.sphgeom as sg

    return sg.Region.decode
