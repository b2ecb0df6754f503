"""Spatial conditions of a query: ``OVERLAPS`` between sky regions, and the automatic spatial join.

SQL cannot compare regions, so a spatial condition runs in two steps:

1. **Prefilter in SQL**, through the skypix overlap index (`skybutler.registry._spatial_index`): the rows whose
   regions share a common-level pixel (``htm7``) with the other side, with every other condition of the query;
   the distinct keys of the spatial elements come back with their regions.
2. **Exact check in Python** (sphgeom): the key combinations whose regions really overlap.  The query then runs
   with those keys as one more condition, so ``order_by``, ``limit``, ``count()`` and find-first apply after the
   exact check and a limit never returns fewer rows than exist.

A query whose dimensions hold both an observation region (``visit_detector_region``, else ``visit``) and a
sky-map region (``patch``, else ``tract``) is joined by their overlap, as the reference butler does, unless the
expression relates the two families itself (in a term of its top-level ``AND``).  Spatial terms under ``OR``
or ``NOT`` are decided on their own, exactly (`skybutler.query._spatial_nested`): there the prefilter would
not be a filter.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.dimensions._regions import common_ranges, lonlat, polygon, skycoord_lonlats
from skybutler.errors import DataIdError
from skybutler.query._ast import And, Bind, Call, Identifier, Literal, Neg, Node, Overlaps
from skybutler.query._parser import syntax_error
from skybutler.query._spatial_keys import in_keys
from skybutler.registry._small_reads import read_all

if TYPE_CHECKING:
    from skybutler.query._builder import QueryBuilder

__all__ = [
    "OBSERVATION",
    "SKYMAP",
    "SpatialReport",
    "apply_spatial",
    "checking_only",
    "is_checking",
    "is_region_value",
    "split_spatial",
]

OBSERVATION = ("visit_detector_region", "visit")
"""The observation family of spatial elements, most specific first."""
SKYMAP = ("patch", "tract")
"""The sky-map family, most specific first."""

_ARITY = {"POINT": (2, 2), "CIRCLE": (3, 3), "BOX": (4, 4), "POLYGON": (6, 1_000_000), "REGION": (1, 1)}
_CHECKING: ContextVar[bool] = ContextVar("skybutler_spatial_checking", default=False)


@contextmanager
def checking_only() -> Iterator[None]:
    """Build statements without running the spatial step's SQL (prefilter, exact check): its operands are still
    resolved and checked, so a bad spatial expression fails here.  A query call builds its statements so once,
    to raise its errors at the call, and runs the spatial step only when its results are first read (results
    are lazy: nothing runs until iterated, counted or tested).  Statements built so are never run."""
    token = _CHECKING.set(True)
    try:
        yield
    finally:
        _CHECKING.reset(token)


def is_checking() -> bool:
    """Whether statements are being built only to check them (`checking_only`)."""
    return _CHECKING.get()


def _sphgeom() -> Any:
    import lsst.sphgeom

    return lsst.sphgeom


def is_region_value(value: Any) -> bool:
    """Whether a bind value is a sky region or position (sphgeom region or ``LonLat``, astropy ``SkyCoord``)."""
    kind = type(value)
    module = kind.__module__ or ""
    return module.startswith("lsst.sphgeom") or kind.__name__ == "SkyCoord"


def _is_region_side(node: Node, bind: Mapping[str, Any]) -> bool:
    if isinstance(node, Call):
        return True
    if isinstance(node, Identifier):
        return node.field == "region" or (node.field is None and node.element == "region")
    if isinstance(node, Bind):
        return is_region_value(bind.get(node.name))
    return False


def is_spatial(node: Node, bind: Mapping[str, Any]) -> bool:
    """Whether ``node`` is an ``OVERLAPS`` between regions (not between timespans)."""
    return isinstance(node, Overlaps) and (_is_region_side(node.left, bind) or _is_region_side(node.right, bind))


def split_spatial(
    text: str, node: Node | None, bind: Mapping[str, Any]
) -> tuple[Node | None, list[Overlaps], list[Overlaps]]:
    """The expression without its top-level spatial terms, those terms (each a term of the top-level ``AND``),
    and the spatial terms nested in what is left (under ``OR`` or ``NOT``: `skybutler.query._spatial_nested`).
    """
    if node is None:
        return None, [], []
    items = node.items if isinstance(node, And) else (node,)
    kept: list[Node] = []
    terms: list[Overlaps] = []
    nested: list[Overlaps] = []
    for item in items:
        if is_spatial(item, bind):
            assert isinstance(item, Overlaps)
            terms.append(item)
        else:
            _find_nested(item, bind, nested)
            kept.append(item)
    if not terms:
        return node, [], nested
    rest = None if not kept else kept[0] if len(kept) == 1 else And(tuple(kept))
    return rest, terms, nested


def _find_nested(node: Any, bind: Mapping[str, Any], found: list[Overlaps]) -> None:
    if is_spatial(node, bind):
        found.append(node)
        return
    for name in ("items", "operand", "left", "right", "expr", "begin", "end"):
        child = getattr(node, name, None)
        for c in child if isinstance(child, tuple) else (child,):
            if c is not None and not isinstance(c, str | int | float | bool):
                _find_nested(c, bind, found)


def _pos(node: Any) -> int:
    for part in (node, getattr(node, "left", None), getattr(node, "right", None)):
        pos = getattr(part, "pos", None)
        if pos:
            return int(pos)
    return 0


# -- operands ---------------------------------------------------------------------------------------------------
@dataclass
class Operand:
    """One side of a spatial term: a constant (region or point) or the region of an element in the query."""

    text: str
    element: str | None = None
    region: Any = None
    """A sphgeom region, or a ``LonLat`` for a point."""
    skypix: str | None = None
    """A skypix dimension (``htm7``): the region of each of its pixels."""

    @property
    def is_point(self) -> bool:
        return self.region is not None and type(self.region).__name__ == "LonLat"


def _number(text: str, node: Node, bind: Mapping[str, Any], what: str) -> float:
    value: Any
    if isinstance(node, Literal):
        value = node.value
    elif isinstance(node, Neg) and isinstance(node.operand, Literal | Bind):
        value = -_number(text, node.operand, bind, what)
    elif isinstance(node, Bind):
        if node.name not in bind:
            raise syntax_error(text, node.pos, f"No value for the bind parameter :{node.name}; pass it in bind=.")
        value = bind[node.name]
    else:
        raise syntax_error(text, _pos(node), f"{what} takes numbers (degrees) or binds, not {node}.")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise syntax_error(text, _pos(node), f"{what} takes finite numbers of degrees; got {value!r}.")
    return float(value)


def _call_region(text: str, call: Call, bind: Mapping[str, Any]) -> Any:
    """The region (or point) of ``POINT``/``CIRCLE``/``BOX``/``POLYGON``/``REGION``, in degrees."""
    sphgeom = _sphgeom()
    low, high = _ARITY[call.name]
    if not low <= len(call.args) <= high or (call.name == "POLYGON" and len(call.args) % 2):
        usage = {
            "POINT": "POINT(ra, dec)",
            "CIRCLE": "CIRCLE(ra, dec, radius)",
            "BOX": "BOX(ra, dec, width, height)",
            "POLYGON": "POLYGON(ra1, dec1, ra2, dec2, ra3, dec3, ...)",
            "REGION": "REGION('IVOA POS string')",
        }
        raise syntax_error(text, call.pos, f"{call.name} takes {usage[call.name]}, in degrees; got {call}.")
    try:
        if call.name == "REGION":
            (arg,) = call.args
            pos = arg.value if isinstance(arg, Literal) else bind.get(arg.name) if isinstance(arg, Bind) else None
            if not isinstance(pos, str):
                raise syntax_error(text, call.pos, f"REGION takes a string (an IVOA SIAv2 POS), not {arg}.")
            try:
                return sphgeom.Region.from_ivoa_pos(pos)
            except (ValueError, RuntimeError) as exc:
                raise syntax_error(text, call.pos, f"REGION({pos!r}) is not a valid IVOA POS string: {exc}.") from None
        values = [_number(text, a, bind, call.name) for a in call.args]
        what = f"{call.name} at offset {call.pos}"
        centre = lonlat(values[0], values[1], what=what)
        if call.name == "POINT":
            return centre
        if call.name == "CIRCLE":
            if values[2] < 0:
                raise DataIdError(f"{what}: the radius {values[2]!r} is negative.")
            return sphgeom.Circle(sphgeom.UnitVector3d(centre), sphgeom.Angle.fromDegrees(values[2]))
        if call.name == "BOX":
            if values[2] < 0 or values[3] < 0:
                raise DataIdError(f"{what}: width and height must not be negative; got {values[2]}, {values[3]}.")
            half_w, half_h = sphgeom.Angle.fromDegrees(values[2] / 2), sphgeom.Angle.fromDegrees(values[3] / 2)
            return sphgeom.Box(centre, half_w, half_h)
        points = [lonlat(values[i], values[i + 1], what=what) for i in range(0, len(values), 2)]
        return polygon(points, what=what)
    except DataIdError as exc:
        raise syntax_error(text, call.pos, str(exc)) from None


def _bind_region(text: str, node: Bind, value: Any) -> Any:
    sphgeom = _sphgeom()
    what = f"bind parameter :{node.name}"
    try:
        if isinstance(value, sphgeom.Region | sphgeom.LonLat):
            return value
        if isinstance(value, sphgeom.UnitVector3d):
            return sphgeom.LonLat(value)
        points = skycoord_lonlats(value, what=what)  # a SkyCoord: any frame, converted to ICRS
    except DataIdError as exc:
        raise syntax_error(text, node.pos, str(exc)) from None
    if len(points) == 1:
        return points[0]
    if len(points) >= 3:
        try:
            return polygon(points, what=what)
        except DataIdError as exc:
            raise syntax_error(text, node.pos, str(exc)) from None
    raise syntax_error(text, node.pos, f"{what}: a SkyCoord is a point or a polygon of 3 or more; got 2 positions.")


def _operand(builder: QueryBuilder, node: Node, bind: Mapping[str, Any]) -> Operand:
    text = builder.text
    if isinstance(node, Call):
        return Operand(str(node), region=_call_region(text, node, bind))
    if isinstance(node, Bind):
        if node.name not in bind:
            raise syntax_error(text, node.pos, f"No value for the bind parameter :{node.name}; pass it in bind=.")
        value = bind[node.name]
        if not is_region_value(value):
            raise syntax_error(
                text, node.pos, f":{node.name} is {type(value).__name__}; a spatial OVERLAPS takes a sphgeom region, "
                "a LonLat or an astropy SkyCoord.",
            )  # fmt: skip
        return Operand(str(node), region=_bind_region(text, node, value))
    if isinstance(node, Identifier):
        universe = builder.universe
        if node.field is None and node.element == "region":
            return Operand("region", element=_default_element(builder, node))
        if node.field == "region" and node.element in universe:
            element = universe[node.element]
            if element.is_skypix:
                return Operand(str(node), skypix=node.element)
            if not element.has_region:
                with_regions = [e.name for e in universe.elements if e.has_region]
                raise syntax_error(
                    text, node.pos, f"{node.element!r} records have no region; these do: {with_regions}."
                )
            return Operand(str(node), element=node.element)
        if node.field == "region":
            raise syntax_error(text, node.pos, f"Unknown element {node.element!r} in {node}.")
    raise syntax_error(text, _pos(node), f"{node} is not a region; use e.g. visit.region, POINT(ra, dec) or a bind.")


def _default_element(builder: QueryBuilder, node: Identifier) -> str:
    """The element a bare ``region`` means: the most specific spatial element of the query's dimensions."""
    dims = builder.dims
    found = [family_member(dims, family) for family in (OBSERVATION, SKYMAP)]
    present = [f for f in found if f is not None]
    if len(present) == 1:
        return present[0]
    if not present:
        raise syntax_error(
            builder.text, node.pos, "'region' names the region of the query's visit, detector, tract or patch, and "
            "this query has none: name one (visit.region, patch.region, ...).",
        )  # fmt: skip
    raise syntax_error(
        builder.text, node.pos, f"'region' is ambiguous here ({' or '.join(present)}): name the element, e.g. "
        f"{present[0]}.region.",
    )  # fmt: skip


def family_member(dims: Mapping[str, Any], family: Sequence[str]) -> str | None:
    """The most specific member of a family whose dimensions are all in the query."""
    for name in family:
        needs = {"visit_detector_region": ("visit", "detector"), "visit": ("visit",), "patch": ("patch",),
                 "tract": ("tract",)}[name]  # fmt: skip
        if all(d in dims for d in needs):
            return name
    return None


# -- applying ------------------------------------------------------------------------------------------------------
@dataclass
class SpatialReport:
    """What the spatial step did, for explanations of empty results."""

    terms: list[str] = field(default_factory=list)
    candidates: int = 0
    passed: int = 0
    program: Any = None
    """While a call is checked: the `_spatial_plan.SpatialProgram` of a plannable spatial step (PostgreSQL)."""

    def explain(self) -> list[str]:
        """Why the spatial conditions left nothing (``[]`` when they left something)."""
        if self.passed:
            return []
        what = "; ".join(self.terms)
        if not self.candidates:
            return [
                f"The SQL prefilter (skypix overlap index) found no rows whose regions may overlap: {what}. No stored "
                "region is near, or the other conditions left no rows, or the spatial elements have no records."
            ]
        return [
            f"The SQL prefilter found {self.candidates} candidate(s), and the exact region check removed them all: "
            f"{what} (their regions come near but do not overlap)."
        ]


def apply_spatial(builder: QueryBuilder, terms: list[Overlaps], bind: Mapping[str, Any]) -> SpatialReport | None:
    """Prefilter, check exactly and constrain ``builder`` to the passing keys; ``None`` when nothing is spatial."""
    pairs = [(_operand(builder, t.left, bind), _operand(builder, t.right, bind)) for t in terms]
    sky = [(a, b) for a, b in pairs if a.skypix or b.skypix]
    pairs = [(a, b) for a, b in pairs if not (a.skypix or b.skypix)]
    observed = family_member(builder.dims, OBSERVATION)
    mapped = family_member(builder.dims, SKYMAP)
    joined = any({a.element, b.element} & set(OBSERVATION) and {a.element, b.element} & set(SKYMAP) for a, b in pairs)
    if observed and mapped and not joined:
        pairs.append((Operand(f"{observed}.region", element=observed), Operand(f"{mapped}.region", element=mapped)))
    if not pairs and not sky and not builder.skypix:
        return None
    report = SpatialReport(terms=[f"{a.text} OVERLAPS {b.text}" for a, b in [*pairs, *sky]])
    if is_checking():  # no SQL: a placeholder report (it explains nothing) and placeholder skypix columns
        report.candidates = report.passed = 1
        if pairs and not sky and not builder.skypix and builder.registry.db.dialect == "postgresql":
            from skybutler.query._spatial_plan import record_program

            report.program = record_program(builder, pairs, report)
    elif pairs:
        _apply_pairs(builder, pairs, report)
    else:
        report.candidates = report.passed = 1
    if sky or builder.skypix:
        from skybutler.query._skypix import apply_skypix

        apply_skypix(builder, sky, report)
    return report


def _apply_pairs(builder: QueryBuilder, pairs: list[tuple[Operand, Operand]], report: SpatialReport) -> None:
    """The region terms between elements and constants (see the module docstring)."""
    constants = [(a, b) for a, b in pairs if a.element is None and b.element is None]
    for a, b in constants:
        if not overlap(a.region, b.region):
            builder.conditions.append(sa.false())
            return
    pairs = [p for p in pairs if p not in constants]
    if not pairs:
        report.candidates = report.passed = 1
        return
    elements = sorted({o.element for p in pairs for o in p if o.element is not None})
    tables = {e: builder.add_element(e) for e in elements}
    keys = {e: [tables[e].c[c] for c in key_columns(builder, e)] for e in elements}
    from_, where = builder.from_, list(builder.conditions)
    common = builder.universe.skypix_common
    if common is not None and all(a.element is None or b.element is None for a, b in pairs):
        # only constant regions: each element's records near them come straight from its overlap index
        for element in elements:
            consts = [
                a.region if a.element is None else b.region for a, b in pairs if element in (a.element, b.element)
            ]
            candidates, kept = _near_constants(builder, element, consts, common)
            report.candidates += candidates
            report.passed = len(kept) if element == elements[0] else min(report.passed, len(kept))
            builder.conditions.append(in_keys(keys[element], kept, dialect=builder.registry.db.dialect))
        return
    if common is not None:
        from skybutler.query._spatial_fixed import apply_fixed_pair, fixed_side

        fixed = fixed_side(builder, pairs)
        if fixed is not None:  # one side is one record: its neighbours through the indexes alone
            apply_fixed_pair(builder, pairs[0], fixed, keys, report)
            return
        from_, where = _prefilter(builder, pairs, keys, from_, where, common)
    key_cols = [c for e in elements for c in keys[e]]
    stmt = sa.select(*key_cols, *(tables[e].c.region for e in elements)).select_from(from_)
    stmt = stmt.where(*where).distinct() if where else stmt.distinct()
    passing: list[tuple[Any, ...]] = []
    decoded: dict[tuple[str, bytes], Any] = {}
    sphgeom = _sphgeom()
    for row in read_rows(builder, stmt):
        report.candidates += 1
        regions: dict[str, Any] = {}
        at = len(key_cols)
        for e in elements:
            data = row[at]
            at += 1
            if data is None:
                break
            cache_key = (e, bytes(data))
            region = decoded.get(cache_key)
            if region is None:
                region = decoded[cache_key] = sphgeom.Region.decode(bytes(data))
            regions[e] = region
        else:
            if all(overlap(_side(a, regions), _side(b, regions)) for a, b in pairs):
                passing.append(tuple(row[: len(key_cols)]))
    report.passed = len(passing)
    builder.conditions.append(in_keys(key_cols, passing, dialect=builder.registry.db.dialect))


def _near_constants(
    builder: QueryBuilder, element: str, consts: list[Any], common: str
) -> tuple[int, list[tuple[Any, ...]]]:
    """How many records of ``element`` the index puts near every one of ``consts``, and the keys of those whose
    regions overlap them all (exactly).

    One indexed read of the overlap table joined to the element's records by key; the query's other
    conditions apply afterwards, with the keys (the index narrows much more than they usually do).
    """
    from skybutler.dimensions._regions import pixelization

    records = builder.registry.records
    names = list(builder.universe[element].required)
    table = records.table(element)
    own = key_columns(builder, element)
    sphgeom = _sphgeom()
    found: dict[tuple[Any, ...], bytes | None] | None = None
    index = records.overlap_table(element)
    column = index.c.skypix_index
    cache: dict[Any, Any] = index.info.setdefault("skybutler_near", {})  # built once per element: a point's
    stmt = cache.get(element)  # statement differs only in its pixel, a bound value (a new one costs 0.1 ms)
    if stmt is None:
        on = sa.and_(*(table.c[o] == index.c[n] for o, n in zip(own, names, strict=True)))
        stmt = cache[element] = sa.select(*[table.c[o] for o in own], table.c.region).select_from(index.join(table, on))
    for const in consts:
        if isinstance(const, sphgeom.LonLat):
            pixel = int(pixelization(common).index(sphgeom.UnitVector3d(const)))
            near: Any = cache.get((element, "point"))
            if near is None:
                near = cache[(element, "point")] = stmt.where(column == sa.bindparam("pixel")).distinct()
            found_rows = read_rows(builder, near, {"pixel": pixel})
        else:
            ranges = common_ranges(const, common)
            near = sa.or_(*(sa.and_(column >= lo, column < hi) for lo, hi in ranges)) if ranges else sa.false()
            found_rows = read_rows(builder, stmt.where(near).distinct())
        rows = {tuple(row[:-1]): row[-1] for row in found_rows}
        found = rows if found is None else {k: v for k, v in found.items() if k in rows}
    assert found is not None
    # a point's vector made once, not once per candidate (a POINT's htm7 pixel holds ~30 detectors' regions)
    points = [sphgeom.UnitVector3d(c) for c in consts if isinstance(c, sphgeom.LonLat)]
    others = [c for c in consts if not isinstance(c, sphgeom.LonLat)]
    decode, passing = sphgeom.Region.decode, []
    for key, data in found.items():
        if data is None:
            continue
        region = decode(bytes(data))
        if all(region.contains(p) for p in points) and all(overlap(region, c) for c in others):
            passing.append(key)
    return len(found), passing


def _side(operand: Operand, regions: Mapping[str, Any]) -> Any:
    return operand.region if operand.element is None else regions[operand.element]


def overlap(a: Any, b: Any) -> bool:
    """Whether two regions (or a region and a point) may overlap: not provably disjoint, as sphgeom decides."""
    sphgeom = _sphgeom()
    a_point, b_point = isinstance(a, sphgeom.LonLat), isinstance(b, sphgeom.LonLat)
    if a_point and b_point:
        return bool(sphgeom.UnitVector3d(a) == sphgeom.UnitVector3d(b))
    if a_point:
        return bool(b.contains(sphgeom.UnitVector3d(a)))
    if b_point:
        return bool(a.contains(sphgeom.UnitVector3d(b)))
    return not bool(a.relate(b) & sphgeom.DISJOINT)


def key_columns(builder: QueryBuilder, element: str) -> list[str]:
    e = builder.universe[element]
    return [*e.parents, e.primary_key.name] if e.is_dimension else list(e.required)


def _prefilter(
    builder: QueryBuilder,
    pairs: list[tuple[Operand, Operand]],
    keys: Mapping[str, list[Any]],
    from_: Any,
    where: list[Any],
    common: str,
) -> tuple[Any, list[Any]]:
    """Join each element's overlap table (its common-level pixels) and require the pixels each term needs."""
    from skybutler.dimensions._regions import pixelization

    records = builder.registry.records
    n = 0

    def pixels_of(element: str) -> Any:
        # A join of the element's overlap table for each use: two terms on one element may meet its region in
        # different pixels, so they must not share one pixel row.
        nonlocal from_, n
        n += 1
        table = _alias(records.overlap_table(element), f"sp{n}")
        on = [table.c[d] == col for d, col in zip(builder.universe[element].required, keys[element], strict=True)]
        from_ = from_.join(table, sa.and_(*on))
        return table.c.skypix_index

    candidates: dict[str, set[tuple[Any, ...]]] = {}
    for a, b in pairs:
        if a.element is not None and b.element is not None:
            if a.element != b.element:
                where.append(pixels_of(a.element) == pixels_of(b.element))
            continue
        element, const = (a.element, b.region) if a.element is not None else (b.element, a.region)
        assert element is not None
        # The records near a constant region come from the overlap table alone, by its pixel index, before the
        # query: joined into it, a planner without statistics (SQLite) may read every record and probe.
        table = records.overlap_table(element)
        column = table.c.skypix_index
        if type(const).__name__ == "LonLat":
            near: Any = column == int(pixelization(common).index(_sphgeom().UnitVector3d(const)))
        else:
            ranges = common_ranges(const, common)
            near = sa.or_(*(sa.and_(column >= lo, column < hi) for lo, hi in ranges)) if ranges else sa.false()
        names = list(builder.universe[element].required)
        stmt = sa.select(*[table.c[c] for c in names]).where(near).distinct()
        found = {tuple(row) for row in read_rows(builder, stmt)}
        candidates[element] = found if element not in candidates else candidates[element] & found
    for element, found in candidates.items():
        where.append(in_keys(keys[element], sorted(found, key=repr), dialect=builder.registry.db.dialect))
    return from_, where


def read_rows(builder: QueryBuilder, stmt: Any, params: Mapping[str, Any] | None = None) -> list[Any]:
    """The rows of a prefilter SELECT, all of them, in one statement (`_small_reads.read_all`)."""
    return read_all(builder.registry.db, stmt, params)


def _alias(table: sa.Table, name: str) -> Any:
    """``table.alias(name)``, made once per name (building an alias's columns costs more than a small query)."""
    cache: dict[str, Any] = table.info.setdefault("skybutler_aliases", {})
    alias = cache.get(name)
    if alias is None:
        alias = cache[name] = table.alias(name)
    return alias
