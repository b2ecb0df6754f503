"""The skypix overlap index: filled on insert, sync and update, never by a failed insert, and by migration 0006."""

from __future__ import annotations

import math
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.registry.conftest import downgrade

from skybutler.dimensions._regions import common_ranges, pixelization
from skybutler.errors import DataIdError
from skybutler.registry import Registry
from skybutler.registry._migrate import migrate
from skybutler.registry._spatial_index import overlap_pixels
from skybutler.testing.spatial import square


def _index(registry: Registry, element: str) -> dict[tuple[Any, ...], set[int]]:
    table = registry.records.overlap_table(element)
    keys = list(registry.universe[element].required)
    out: dict[tuple[Any, ...], set[int]] = {}
    with registry.db.transaction(write=False) as conn:
        for row in conn.execute(sa.select(*[table.c[k] for k in keys], table.c.skypix_index)):
            out.setdefault(tuple(row[:-1]), set()).add(row[-1])
    return out


def _touching(region: Any, level: int) -> set[int]:
    """Brute force: every htm pixel of ``level`` near the region whose triangle is not disjoint from it."""
    import lsst.sphgeom as sg

    pix = pixelization(f"htm{level}")
    out = set()
    for begin, end in pixelization(f"htm{level - 2}").envelope(region, 0):  # the parents' children cover it
        for parent in range(begin, end):
            for child in range(parent * 16, parent * 16 + 16):
                if not pix.triangle(child).relate(region) & sg.DISJOINT:
                    out.add(child)
    return out


def test_insert_and_sync_fill_the_index(sample: Registry) -> None:
    common = sample.universe.skypix_common
    assert common is not None
    regions = {d: square(10.0 + d, -5.0, 0.3) for d in range(4)}
    rows = [{"instrument": "Cam", "visit": 0, "detector": d, "region": regions[d]} for d in range(3)]
    sample.insert_dimension_records("visit_detector_region", rows)
    sample.insert_dimension_records("visit_detector_region", rows[:1], skip_existing=True)  # nothing added twice
    sample.sync_dimension_records(
        "visit_detector_region", {"instrument": "Cam", "visit": 0, "detector": 3, "region": regions[3]}
    )
    index = _index(sample, "visit_detector_region")
    assert index == {("Cam", 0, d): set(overlap_pixels(regions[d], common)) for d in range(4)}
    level = int(common.removeprefix("htm"))
    for d in range(4):
        assert _touching(regions[d], level) <= index[("Cam", 0, d)]  # conservative: no touched pixel missed
    moved = square(200.0, 40.0, 0.2)
    sample.sync_dimension_records(
        "visit_detector_region", {"instrument": "Cam", "visit": 0, "detector": 3, "region": moved}, update=True
    )
    assert _index(sample, "visit_detector_region")[("Cam", 0, 3)] == set(overlap_pixels(moved, common))


def test_records_without_regions_have_no_pixels(sample: Registry) -> None:
    sample.insert_dimension_records("visit_detector_region", [{"instrument": "Cam", "visit": 1, "detector": 0}])
    assert _index(sample, "visit_detector_region") == {}


@pytest.mark.parametrize(
    ("region", "message"),
    [
        (b"\x70\x01\x02", "is not an encoded sphgeom region"),
        ("zz", "hex-encoded region"),
        (42, "must be a sphgeom region"),
    ],
)
def test_bad_regions_are_refused_with_nothing_written(sample: Registry, region: Any, message: str) -> None:
    good = {"instrument": "Cam", "visit": 2, "detector": 0, "region": square(1.0, 1.0, 0.1)}
    bad = {"instrument": "Cam", "visit": 2, "detector": 1, "region": region}
    with pytest.raises(DataIdError, match=message):
        sample.insert_dimension_records("visit_detector_region", [good, bad])
    assert sample.fetch_dimension_records("visit_detector_region") == []
    assert _index(sample, "visit_detector_region") == {}


def test_a_skycoord_polygon_is_a_region_and_a_non_convex_one_is_refused(sample: Registry) -> None:
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    corners = SkyCoord([10, 11, 11, 10] * u.deg, [0, 0, 1, 1] * u.deg)
    sample.insert_dimension_records("visit_detector_region", [
        {"instrument": "Cam", "visit": 3, "detector": 0, "region": corners}])  # fmt: skip
    (record,) = sample.fetch_dimension_records("visit_detector_region")
    assert type(record.region).__name__ == "ConvexPolygon"
    bowtie = SkyCoord([10, 11, 10, 11] * u.deg, [0, 1, 1, 0] * u.deg)  # crossing edges
    with pytest.raises(DataIdError, match="convex polygon"):
        sample.insert_dimension_records("visit_detector_region", [
            {"instrument": "Cam", "visit": 3, "detector": 1, "region": bowtie}])  # fmt: skip
    assert len(sample.fetch_dimension_records("visit_detector_region")) == 1


def test_migration_0006_fills_the_index_of_existing_regions(sample: Registry) -> None:
    regions = {v: square(30.0 * v, 10.0, 0.5) for v in range(2)}
    sample.insert_dimension_records(
        "visit_detector_region",
        [{"instrument": "Cam", "visit": v, "detector": 0, "region": r} for v, r in regions.items()],
    )
    before = _index(sample, "visit_detector_region")
    downgrade(sample, "0008_server_tokens")
    with sample.db.transaction(write=False) as conn:
        assert "visit_detector_region_skypix_overlap" not in sa.inspect(conn).get_table_names()
    assert migrate(sample.db) == ["0006_spatial_index"]
    assert _index(sample, "visit_detector_region") == before != {}


@settings(max_examples=40, deadline=None)
@given(
    ra=st.floats(0, 360, exclude_max=True),
    dec=st.floats(-89, 89),
    half=st.floats(0.001, 2.0),
    level=st.sampled_from([3, 5, 7, 9, 11]),
)
def test_envelopes_hold_every_pixel_a_region_touches(ra: float, dec: float, half: float, level: int) -> None:
    """At several levels, the prefilter's ranges (merged to at most 64) hold every pixel the region touches."""
    region = square(ra, dec, half)
    if not math.isfinite(region.getBoundingCircle().getOpeningAngle().asDegrees()):
        return
    ranges = common_ranges(region, f"htm{level}")
    assert len(ranges) <= 64
    covered = {p for lo, hi in ranges for p in range(lo, hi)} if level <= 9 else None
    touched = _touching(region, level) if level <= 9 else set()
    if covered is not None:
        assert touched <= covered
    for vertex in region.getVertices():
        pixel = pixelization(f"htm{level}").index(vertex)
        assert any(lo <= pixel < hi for lo, hi in ranges)
