"""Sky regions: sphgeom objects from what users and exports hold, and skypix pixelizations.

Regions are ``lsst.sphgeom`` objects (`ConvexPolygon`, `Circle`, `Box`, `Ellipse`, unions and intersections of
them), the geometry library of the reference butler: the registry stores their binary encoding and exports
write it as hex, so both butlers read each other's regions byte for byte.  sphgeom is imported on first use
only (``import skybutler`` stays light); everything here takes degrees.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from typing import Any

from skybutler.errors import DataIdError

__all__ = [
    "as_region",
    "common_ranges",
    "decode_region",
    "describe_region",
    "encode_region",
    "lonlat",
    "pixelization",
    "region_key",
    "skypix_system",
]

_SKYPIX = re.compile(r"^(htm|healpix)(\d+)$")


def _sphgeom() -> Any:
    import lsst.sphgeom

    return lsst.sphgeom


def lonlat(ra: Any, dec: Any, *, what: str) -> Any:
    """``sphgeom.LonLat`` of a position in degrees; a latitude beyond ±90 or a non-finite value is refused.

    Raises
    ------
    DataIdError
        ``dec`` is outside [-90, 90] or either value is not a finite number (the message names it).
    """
    for name, value in (("ra", ra), ("dec", dec)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise DataIdError(f"{what}: {name} must be a finite number of degrees, got {value!r}.")
    if not -90.0 <= dec <= 90.0:
        raise DataIdError(f"{what}: declination {dec!r} is outside -90..90 degrees; give degrees (ra, dec).")
    return _sphgeom().LonLat.fromDegrees(float(ra), float(dec))


def decode_region(data: bytes, *, what: str) -> Any:
    """The sphgeom region of an encoding; bytes that are not one are a `DataIdError` naming ``what``."""
    try:
        return _sphgeom().Region.decode(bytes(data))
    except (RuntimeError, ValueError, TypeError):
        raise DataIdError(
            f"{what} is not an encoded sphgeom region ({len(data)} bytes starting {bytes(data[:8]).hex()!r}); "
            "give a sphgeom region, an astropy SkyCoord polygon, or the bytes of Region.encode()."
        ) from None


def encode_region(region: Any) -> bytes:
    """The region's sphgeom encoding (what the registry stores and exports write as hex)."""
    return bytes(region.encode())


def region_key(region: Any) -> bytes | None:
    """What two regions are compared by: their encoding (sphgeom's unions do not compare equal otherwise)."""
    return None if region is None else encode_region(region)


def as_region(value: Any, *, what: str) -> Any:
    """A sphgeom region from a region, its encoding (bytes or hex text) or an astropy `SkyCoord`.

    A `SkyCoord` of three or more positions is the convex polygon through them (in ICRS); a single position
    is not a region (a record's region has an area).

    Raises
    ------
    DataIdError
        The value is none of those, or not a valid region (bad encoding, a latitude beyond ±90, a polygon
        that is not convex, ...).
    """
    sphgeom = _sphgeom()
    if isinstance(value, sphgeom.Region):
        # (a ConvexPolygon reports isEmpty() true whatever its vertices: only these kinds can say)
        if type(value).__name__ in ("Circle", "Box", "Ellipse") and value.isEmpty():
            raise DataIdError(f"{what} is an empty region; a record's region must cover some sky.")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return decode_region(bytes(value), what=what)
    if isinstance(value, str):
        try:
            data = bytes.fromhex(value)
        except ValueError:
            raise DataIdError(f"{what} text must be a hex-encoded region; got {value[:40]!r}.") from None
        return decode_region(data, what=what)
    if type(value).__name__ == "SkyCoord":
        points = skycoord_lonlats(value, what=what)
        if len(points) < 3:
            raise DataIdError(f"{what}: a SkyCoord region needs at least three vertices, got {len(points)}.")
        return polygon(points, what=what)
    raise DataIdError(
        f"{what} must be a sphgeom region, an astropy SkyCoord polygon or encoded bytes; got {type(value).__name__}."
    )


def skycoord_lonlats(value: Any, *, what: str) -> list[Any]:
    """The positions of an astropy `SkyCoord` (any frame, converted to ICRS) as ``LonLat`` objects."""
    icrs = value.icrs
    ras = icrs.ra.deg
    decs = icrs.dec.deg
    if getattr(icrs, "isscalar", False):
        return [lonlat(float(ras), float(decs), what=what)]
    return [lonlat(float(r), float(d), what=what) for r, d in zip(ras.ravel(), decs.ravel(), strict=True)]


def polygon(points: Sequence[Any], *, what: str) -> Any:
    """The convex polygon with these vertices (``LonLat``), in the order given (either direction).

    sphgeom would take the convex hull of any points; a vertex list that is not convex as given (crossing
    edges, a reflex corner, three in a line) is refused instead, since its hull is not what was meant.
    """
    sphgeom = _sphgeom()
    vectors = [sphgeom.UnitVector3d(p) for p in points]
    n = len(vectors)
    signs = set()
    for i in range(n):
        a, b, c = vectors[i - 1], vectors[i], vectors[(i + 1) % n]
        turn = a.cross(b).dot(c)
        signs.add(0 if abs(turn) < 1e-15 else 1 if turn > 0 else -1)
    if n < 3 or len(signs) != 1 or 0 in signs:
        listed = ", ".join(f"({p.getLon().asDegrees():.6g}, {p.getLat().asDegrees():.6g})" for p in points)
        raise DataIdError(
            f"{what}: the vertices {listed} do not form a convex polygon in the order given (edges cross, a corner "
            "turns the other way, or three vertices are in a line); list the corners in order around the polygon."
        )
    try:
        return sphgeom.ConvexPolygon(vectors)
    except (RuntimeError, ValueError) as exc:
        raise DataIdError(f"{what}: the vertices do not form a convex polygon ({exc}).") from None


def describe_region(region: Any) -> str:
    """A short form for tables: the kind and the bounding circle (centre and radius in degrees)."""
    if region is None:
        return ""
    circle = region.getBoundingCircle()
    centre = _sphgeom().LonLat(circle.getCenter())
    radius = circle.getOpeningAngle().asDegrees()
    return (
        f"{type(region).__name__}(~{centre.getLon().asDegrees():.4f}, {centre.getLat().asDegrees():+.4f}, "
        f"r={radius:.3g})"
    )


def skypix_system(name: str) -> tuple[str, int] | None:
    """``("htm", 7)`` for ``"htm7"``, ``None`` for a name that is not a skypix dimension's."""
    match = _SKYPIX.match(name)
    return None if match is None else (match.group(1), int(match.group(2)))


@functools.cache
def pixelization(name: str) -> Any:
    """The sphgeom pixelization of a skypix dimension (``htm7``, ``healpix11``)."""
    parsed = skypix_system(name)
    if parsed is None:
        raise DataIdError(f"{name!r} is not a skypix dimension (htm1..htm24, healpix1..healpix17).")
    system, level = parsed
    sphgeom = _sphgeom()
    if system == "htm":
        return sphgeom.HtmPixelization(level)
    return sphgeom.HealpixPixelization(level)


def common_ranges(region: Any, name: str, max_ranges: int = 64) -> list[tuple[int, int]]:
    """Half-open ``[begin, end)`` index ranges of the pixels of ``name`` that may overlap ``region``.

    sphgeom's envelope is conservative (every pixel the region touches is in it, a few others may be), so
    the ranges prefilter; the exact region check follows.  ``max_ranges`` coarsens the ranges (merging
    neighbours) to keep the SQL small.
    """
    ranges = pixelization(name).envelope(region, max_ranges)
    return [(int(begin), int(end)) for begin, end in ranges.ranges()]
