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
from skybutler.query._spatial import (
    OBSERVATION,
    SKYMAP,
    family_member,
    is_checking,
    key_columns,
    overlap,
    read_rows,
)
from skybutler.query._spatial_keys import in_keys

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

    A skypix dimension compared only with other skypix dimensions (``htm7.region OVERLAPS htm9.region``) takes
    its values from theirs: the pixels of its level overlapping each of their pixels, exactly.  One compared
    with nothing else and given in the data ID is that pixel.

    Raises
    ------
    DataIdError
        A skypix dimension has no region to be computed from.
    """
    from skybutler.query._spatial import Operand

    wanted = dict(builder.skypix)
    for a, b in terms:
        for side in (a, b):
            if side.skypix and side.skypix not in builder.dims:
                wanted.setdefault(side.skypix, None)
    names = sorted({*wanted, *(s.skypix for p in terms for s in p if s.skypix)})
    links = [(a.skypix, b.skypix) for a, b in terms if a.skypix and b.skypix and a.skypix != b.skypix]
    done: list[str] = []
    derived: set[frozenset[str]] = set()

    def linked(name: str) -> list[str]:
        return [y if x == name else x for x, y in links if name in (x, y)]

    def anchor(name: str) -> None:
        partners = [b if a.skypix == name else a for a, b in terms if name in (a.skypix, b.skypix)]
        partners = [p for p in partners if not p.skypix]
        if not partners and linked(name) and wanted.get(name) is not None:
            _one(builder, name, [], wanted[name], report, fixed=True)
        else:
            if not partners:
                element = family_member(builder.dims, OBSERVATION) or family_member(builder.dims, SKYMAP)
                if element is None:
                    raise DataIdError(
                        f"{name} values are computed from regions, and this query has none: add a visit, detector, "
                        f"tract or patch, or a condition such as {name}.region OVERLAPS POINT(ra, dec)."
                    )
                partners = [Operand(f"{element}.region", element=element)]
            _one(builder, name, partners, wanted.get(name), report)
        done.append(name)

    for name in names:  # first the dimensions with a region (or a value) of their own
        has_own = any(name in (a.skypix, b.skypix) and not (a.skypix and b.skypix) for a, b in terms)
        if has_own or not linked(name) or wanted.get(name) is not None:
            anchor(name)
    while len(done) < len(names):  # then those known only through other skypix dimensions
        ready = [n for n in names if n not in done and any(p in done for p in linked(n))]
        if not ready:  # compared only with each other: the first from the query's own region
            anchor(next(n for n in names if n not in done))
            continue
        name = ready[0]
        source = next(p for p in linked(name) if p in done)
        _derived(builder, name, source, wanted.get(name), report)
        derived.add(frozenset((name, source)))
        done.append(name)
    for x, y in links:  # both made on their own (each from a region): keep the overlapping pairs
        if frozenset((x, y)) not in derived:
            _constrain_pairs(builder, x, y)


def _values_of(builder: QueryBuilder, name: str) -> list[int]:
    column = builder.dims[name]
    return sorted({int(row[0]) for row in read_rows(builder, builder.select([column]).distinct())})


def _derived(builder: QueryBuilder, name: str, source: str, value: Any, report: SpatialReport) -> None:
    """``name``'s pixels from those of ``source`` (already in the query): each pair of overlapping pixels."""
    if is_checking():
        builder.dims.setdefault(name, sa.literal(0, sa.BigInteger()))
        return
    pix = pixelization(source)
    rows: list[tuple[Any, ...]] = []
    for p in _values_of(builder, source):
        region = pix.pixel(p)
        rows += [(p, q) for q in _pixels(name, region) if value is None or q == value]
        if len(rows) > MAX_PIXELS:
            raise DataIdError(f"The query makes more than {MAX_PIXELS} ({source}, {name}) pairs; narrow it.")
    report.candidates += len(rows)
    report.passed = min(report.passed, len(rows)) if report.passed else len(rows)
    _join_values(builder, name, [builder.dims[source]], [sa.BigInteger()], rows)


def _constrain_pairs(builder: QueryBuilder, x: str, y: str) -> None:
    """Keep the rows whose ``x`` and ``y`` pixels overlap (both computed already)."""
    if is_checking():
        return
    allowed = set(_values_of(builder, y))
    pix = pixelization(x)
    pairs = [(p, q) for p in _values_of(builder, x) for q in _pixels(y, pix.pixel(p)) if q in allowed]
    builder.conditions.append(in_keys([builder.dims[x], builder.dims[y]], pairs, dialect=builder.registry.db.dialect))


def _one(
    builder: QueryBuilder,
    name: str,
    partners: list[Operand],
    value: Any,
    report: SpatialReport,
    fixed: bool = False,
) -> None:
    elements = sorted({p.element for p in partners if p.element is not None})
    if len(elements) > 1:
        raise DataIdError(f"{name} is compared with the regions of {elements}; compare it with one element's.")
    consts = [p.region for p in partners if p.element is None]
    if is_checking():  # checked above; the pixels are made when the statement is built to run
        builder.dims.setdefault(name, sa.literal(0, sa.BigInteger()))
        return
    keys: list[Any] = []
    rows: list[tuple[Any, ...]] = []
    if fixed:  # given in the data ID, compared only with other skypix dimensions
        rows = [(int(value),)]
    elif elements:
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
    _join_values(builder, name, keys, [k.type for k in keys], rows)


def _join_values(builder: QueryBuilder, name: str, keys: list[Any], key_types: list[Any], rows: list[Any]) -> None:
    """Join ``rows`` (``keys`` values, then a pixel of ``name``) to the query, or constrain the column a table
    already gives ``name`` to them."""
    column = builder.dims.get(name)
    if column is not None:  # a table has it: keep its rows whose pixel (and key) overlap
        builder.conditions.append(in_keys([*keys, column], rows, dialect=builder.registry.db.dialect))
        return
    types = [*key_types, sa.BigInteger()]
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
    builder.join_unknown(values, on)  # several pixels per key: rows of the join repeat
    builder.dims[name] = values.c[f"column{len(types)}"]


def _decoder() -> Any:
    import lsst.sphgeom as sg

    return sg.Region.decode
