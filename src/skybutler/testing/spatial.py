"""Regions for tests, examples and benchmarks: small sky squares, and a sample repository with a sky map.

Every region is a real ``lsst.sphgeom`` object (sphgeom is a base dependency); nothing here is a stand-in.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skybutler.registry import Registry

__all__ = ["fill_spatial_sample", "square"]


def square(ra: float, dec: float, half: float) -> Any:
    """A convex polygon about ``2 * half`` degrees on a side, centred on (``ra``, ``dec``) in degrees."""
    import lsst.sphgeom as sg

    width = half / max(math.cos(math.radians(dec)), 1e-6)
    corners = [(ra - width, dec - half), (ra + width, dec - half), (ra + width, dec + half), (ra - width, dec + half)]
    return sg.ConvexPolygon([sg.UnitVector3d(sg.LonLat.fromDegrees(a, d)) for a, d in corners])


def fill_spatial_sample(registry: Registry, *, visits: int = 3, detectors: int = 4) -> None:
    """A small sky: instrument ``Cam`` with ``visits`` visits of ``detectors`` detectors near (150, 2), and sky
    map ``sky`` with one tract of 3 x 3 patches covering (149.4..150.6, 1.4..2.6).

    Visit ``v`` points at (149.8 + 0.2 v, 2.0) and covers 0.3 degrees square; its detectors are squares of
    0.075 degrees side by side along ra, left to right.
    """
    registry.insert_dimension_records("instrument", [{"name": "Cam", "detector_max": 100, "visit_max": 1000}])
    registry.insert_dimension_records("band", [{"name": "r"}])
    registry.insert_dimension_records("physical_filter", [{"instrument": "Cam", "name": "Cam-r", "band": "r"}])
    registry.insert_dimension_records("day_obs", [{"instrument": "Cam", "id": 20250101}])
    registry.insert_dimension_records(
        "detector", [{"instrument": "Cam", "id": d, "full_name": f"d{d}"} for d in range(detectors)]
    )
    vrecords, drecords = [], []
    for v in range(visits):
        ra = 149.8 + 0.2 * v
        vrecords.append({"instrument": "Cam", "id": v, "name": f"v{v}", "physical_filter": "Cam-r",
                         "day_obs": 20250101, "region": square(ra, 2.0, 0.15)})  # fmt: skip
        for d in range(detectors):
            dra = ra - 0.15 + 0.075 * d + 0.0375
            drecords.append({"instrument": "Cam", "visit": v, "detector": d, "region": square(dra, 2.0, 0.0375)})
    registry.insert_dimension_records("visit", vrecords)
    registry.insert_dimension_records("visit_detector_region", drecords)
    registry.insert_dimension_records("skymap", [{"name": "sky", "hash": b"\x00" * 8}])
    registry.insert_dimension_records("tract", [{"skymap": "sky", "id": 0, "region": square(150.0, 2.0, 0.6)}])
    patches = []
    for y in range(3):
        for x in range(3):
            ra, dec = 149.6 + 0.4 * x, 1.6 + 0.4 * y
            patches.append({"skymap": "sky", "tract": 0, "id": 3 * y + x, "cell_x": x, "cell_y": y,
                            "region": square(ra, dec, 0.2)})  # fmt: skip
    registry.insert_dimension_records("patch", patches)
