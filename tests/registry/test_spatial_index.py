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
    downgrade(sample, "0005_pg_fk_checks")
    with sample.db.transaction(write=False) as conn:
        assert "visit_detector_region_skypix_overlap" not in sa.inspect(conn).get_table_names()
    assert migrate(sample.db)[0] == "0006_spatial_index"
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


def _grid(sample: Registry, visit_record: Any) -> list[dict[str, Any]]:
    """1200 visit_detector_region rows (60 visits x 20 detectors), with the visits and detectors they need."""
    sample.insert_dimension_records(
        "detector", [{"instrument": "Cam", "id": i, "full_name": f"S{i:02d}"} for i in range(4, 20)]
    )
    sample.insert_dimension_records("visit", [visit_record(v) for v in range(6, 60)])
    return [
        {"instrument": "Cam", "visit": v, "detector": d, "region": square(10.0 + v, 5.0 + 0.1 * d, 0.04)}
        for v in range(60)
        for d in range(20)
    ]


def test_a_bulk_insert_refused_late_leaves_nothing_and_the_registry_usable(sample: Registry, visit_record: Any) -> None:
    """Rows are validated and sent as they come (PostgreSQL: one COPY): a bad record or a missing parent far into
    the stream still leaves nothing written, with the usual error, and the next insert works."""
    rows = _grid(sample, visit_record)
    bad = dict(rows[1100], region=b"\x70\x01\x02")
    with pytest.raises(DataIdError, match="is not an encoded sphgeom region"):
        sample.insert_dimension_records("visit_detector_region", [*rows[:1100], bad, *rows[1101:]])
    orphan = dict(rows[1100], visit=999)  # refused by the database, not by the validation
    with pytest.raises(DataIdError, match=r"refer to records that do not exist.*visit.*999"):
        sample.insert_dimension_records("visit_detector_region", [*rows[:1100], orphan])
    assert sample.fetch_dimension_records("visit_detector_region") == []
    assert _index(sample, "visit_detector_region") == {}
    assert sample.insert_dimension_records("visit_detector_region", rows) == len(rows)
    assert len(sample.fetch_dimension_records("visit_detector_region")) == len(rows)
    common = sample.universe.skypix_common
    assert common is not None
    assert _index(sample, "visit_detector_region")[("Cam", 59, 19)] == set(overlap_pixels(rows[-1]["region"], common))


def _analyzed(registry: Registry, table: str) -> bool:
    with registry.db.transaction(write=False) as conn:
        tuples = conn.execute(
            sa.text(
                "SELECT reltuples FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relname = :t"
            ),
            {"t": table},
        ).scalar_one()
    return bool(tuples >= 0)


def test_a_bulk_load_of_a_spatial_element_gives_its_join_companions_statistics(
    sample: Registry, visit_record: Any
) -> None:
    """PostgreSQL plans the spatial joins from statistics: after a bulk load of regions, the element's table, its
    overlap table and the small tables of the dimensions it requires have them (SQLite plans without any)."""
    rows = _grid(sample, visit_record)
    companions = ["instrument", "visit", "detector", "visit_detector_region", "visit_detector_region_skypix_overlap"]
    if sample.db.dialect == "sqlite":
        sample.insert_dimension_records("visit_detector_region", rows)
        with sample.db.transaction(write=False) as conn:
            assert not conn.execute(sa.text("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")).all()
        return
    sample.insert_dimension_records("visit_detector_region", rows[:10])  # a few rows: left to autovacuum
    assert not any(_analyzed(sample, t) for t in companions)
    sample.insert_dimension_records("visit_detector_region", rows[10:])
    assert all(_analyzed(sample, t) for t in companions)
    assert not _analyzed(sample, "band")  # not a table of the spatial join
