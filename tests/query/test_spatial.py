"""Spatial queries on the small spatial sample (SQLite and PostgreSQL): functions, binds, joins, limits, errors.

The sample (`skybutler.testing.spatial.fill_spatial_sample`): visits 0-2 of ``Cam`` at ra 149.8, 150.0, 150.2
(dec 2), each of four detectors side by side along ra; sky map ``sky`` with tract 0 of 3 x 3 patches.  Expected
answers come from the brute-force check over every record (`_brute`), never from the code under test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybutler.butler import DirectButler
from skybutler.errors import QuerySyntaxError
from skybutler.testing.spatial import fill_spatial_sample, square

VD = ["visit", "detector"]


@pytest.fixture
def sky(repo: str) -> Iterator[DirectButler]:
    with DirectButler(repo, run="run") as butler:
        fill_spatial_sample(butler.registry)
        butler.register_dataset_type("calexp", VD, "StructuredDataDict")
        for visit in range(3):
            for detector in range(4):
                butler.put({"v": visit, "d": detector}, "calexp", instrument="Cam", visit=visit, detector=detector)
        yield butler


def _ids(found: Any, dims: list[str]) -> list[tuple[Any, ...]]:
    return sorted(tuple(d[k] for k in dims) for d in found)


def _brute(butler: DirectButler, element: str, other: Any) -> list[tuple[Any, ...]]:
    """Keys (without the governor) of ``element``'s records whose region is not disjoint from ``other``."""
    import lsst.sphgeom as sg

    out = []
    for record in butler.registry.fetch_dimension_records(element):
        if isinstance(other, sg.LonLat):
            hit = record.region.contains(sg.UnitVector3d(other))
        else:
            hit = not (record.region.relate(other) & sg.DISJOINT)
        if hit:
            out.append(record.key[1:])
    return sorted(out)


def test_point_circle_box_polygon_region(sky: DirectButler) -> None:
    import lsst.sphgeom as sg

    point = sg.LonLat.fromDegrees(150.01, 2.0)
    where = "visit_detector_region.region OVERLAPS POINT(150.01, 2.0)"
    assert _ids(sky.query_data_ids(VD, where=where), VD) == _brute(sky, "visit_detector_region", point) != []
    circle = sg.Circle(sg.UnitVector3d(point), sg.Angle.fromDegrees(0.05))
    where = "visit_detector_region.region OVERLAPS CIRCLE(150.01, 2.0, 0.05)"
    assert _ids(sky.query_data_ids(VD, where=where), VD) == _brute(sky, "visit_detector_region", circle)
    box = sg.Box(point, sg.Angle.fromDegrees(0.1), sg.Angle.fromDegrees(0.01))
    where = "visit_detector_region.region OVERLAPS BOX(150.01, 2.0, 0.2, 0.02)"
    assert _ids(sky.query_data_ids(VD, where=where), VD) == _brute(sky, "visit_detector_region", box)
    poly = square(149.75, 2.0, 0.01)
    corners = [sg.LonLat(v) for v in poly.getVertices()]
    text = ", ".join(f"{c.getLon().asDegrees()!r}, {c.getLat().asDegrees()!r}" for c in corners)
    where = f"visit_detector_region.region OVERLAPS POLYGON({text})"
    assert _ids(sky.query_data_ids(VD, where=where), VD) == _brute(sky, "visit_detector_region", poly) != []
    where = "visit.region OVERLAPS REGION('CIRCLE 150.3 2.0 0.01')"
    assert _ids(sky.query_data_ids(["visit"], where=where), ["visit"]) == [(2,)]


def test_binds_of_sphgeom_and_astropy(sky: DirectButler) -> None:
    import astropy.units as u
    import lsst.sphgeom as sg
    from astropy.coordinates import SkyCoord

    expected = _brute(sky, "visit_detector_region", sg.LonLat.fromDegrees(150.2, 2.01))
    for value in (
        sg.LonLat.fromDegrees(150.2, 2.01),
        SkyCoord(150.2 * u.deg, 2.01 * u.deg),
        SkyCoord(150.2 * u.deg, 2.01 * u.deg).galactic,  # any frame: converted to ICRS
    ):
        found = sky.query_data_ids(VD, where="region OVERLAPS :r", bind={"r": value})
        assert _ids(found, VD) == expected
    corners = SkyCoord([149.74, 149.76, 149.76, 149.74] * u.deg, [1.99, 1.99, 2.01, 2.01] * u.deg)
    found = sky.query_data_ids(VD, where="visit_detector_region.region OVERLAPS :r", bind={"r": corners})
    assert _ids(found, VD) == _brute(sky, "visit_detector_region", square(149.75, 2.0, 0.01))


def test_datasets_by_region_with_limit_and_order(sky: DirectButler) -> None:
    where = "visit_detector_region.region OVERLAPS CIRCLE(150.0, 2.0, 0.1)"
    everything = sorted((r.data_id["visit"], r.data_id["detector"]) for r in sky.query_datasets("calexp", where=where))
    assert everything == _brute(sky, "visit_detector_region", _circle(150.0, 2.0, 0.1))
    # the limit applies after the exact check: the prefilter's extra candidates never take a place
    for n in range(1, len(everything) + 1):
        refs = list(sky.query_datasets("calexp", where=where, order_by=["-visit", "-detector"], limit=n))
        assert [(r.data_id["visit"], r.data_id["detector"]) for r in refs] == sorted(everything, reverse=True)[:n]
    assert sky.query_datasets("calexp", where=where).count() == len(everything)
    ids = sky.query_data_ids(VD, where=where, order_by=["detector"], limit=2)
    assert [d["detector"] for d in ids] == sorted(d for _, d in everything)[:2]


def _circle(ra: float, dec: float, radius: float) -> Any:
    import lsst.sphgeom as sg

    return sg.Circle(sg.UnitVector3d(sg.LonLat.fromDegrees(ra, dec)), sg.Angle.fromDegrees(radius))


def test_automatic_join_of_visits_and_patches(sky: DirectButler) -> None:
    found = _ids(sky.query_data_ids(["visit", "tract", "patch"], where="visit = 0"), ["visit", "patch"])
    (visit,) = sky.registry.fetch_dimension_records("visit", instrument="Cam", visit=0)
    assert found == [(0, p) for (_, p) in _brute(sky, "patch", visit.region)]
    # with the detector, the most specific member joins: visit_detector_region with patch
    rows = _ids(sky.query_data_ids(["visit", "detector", "patch"], where="visit = 0"), ["detector", "patch"])
    expected = []
    for record in sky.registry.fetch_dimension_records("visit_detector_region", instrument="Cam", visit=0):
        expected += [(record.detector, p) for (_, p) in _brute(sky, "patch", record.region)]
    assert rows == sorted(expected)
    assert len(rows) < 4 * len(found)  # narrower than every detector with every patch of the visit


def test_explanations_say_which_step_removed_the_rows(sky: DirectButler) -> None:
    far = sky.query_data_ids(VD, where="visit_detector_region.region OVERLAPS POINT(10.0, -40.0)")
    assert list(far) == []
    assert any("prefilter" in r and "no rows" in r for r in far.explain_no_results())
    # (150.0, 2.1) is inside visit 1 but outside every detector (they cover dec 1.9625..2.0375), in an htm7 pixel
    # that detectors' regions touch: the prefilter finds candidates, the exact check removes them
    import lsst.sphgeom as sg

    assert _brute(sky, "visit_detector_region", sg.LonLat.fromDegrees(150.0, 2.1)) == []
    gap = sky.query_data_ids(VD, where="visit_detector_region.region OVERLAPS POINT(150.0, 2.1)")
    assert list(gap) == []
    (reason,) = [r for r in gap.explain_no_results() if "region" in r]
    assert "exact region check removed them all" in reason, reason
    assert list(sky.query_data_ids(["visit"], where="visit.region OVERLAPS POINT(150.0, 2.1)")) != []


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("visit.region OVERLAPS POINT(150, 95)", "declination 95.0 is outside -90..90"),
        ("visit.region OVERLAPS CIRCLE(150, -91, 1)", "declination -91.0"),
        ("visit.region OVERLAPS POLYGON(1, 2, 3, 4, 5, 100)", "declination 100.0"),
        ("visit.region OVERLAPS CIRCLE(150, 2, -1)", "radius -1.0 is negative"),
        ("visit.region OVERLAPS POINT(150)", r"POINT takes POINT\(ra, dec\)"),
        ("visit.region OVERLAPS POLYGON(1, 2, 3, 4)", "POLYGON takes"),
        ("visit.region OVERLAPS REGION('nonsense 1 2')", "not a valid IVOA POS"),
        ("htm7.region OVERLAPS POINT(1, 2) OR visit = 1", "top-level AND"),
        ("NOT visit.region OVERLAPS POINT(1, 95)", "declination 95.0"),
        ("detector.region OVERLAPS POINT(1, 2)", "'detector' records have no region"),
        ("region OVERLAPS POINT(1, 2)", "'region' names the region"),
        ("visit.region OVERLAPS :nope", "No value for the bind parameter :nope"),
        ("visit.region OVERLAPS POINT('a', 2)", "finite numbers of degrees"),
    ],
)
def test_bad_spatial_expressions_are_query_syntax_errors(sky: DirectButler, where: str, message: str) -> None:
    dims = ["instrument"] if where.startswith("region") else ["visit"]
    with pytest.raises(QuerySyntaxError, match=message) as info:
        sky.query_data_ids(dims, where=where)
    assert "^" in str(info.value)  # the caret under the fault


def test_bad_bind_value_is_a_query_syntax_error(sky: DirectButler) -> None:
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    two = SkyCoord([1, 2] * u.deg, [1, 2] * u.deg)
    with pytest.raises(QuerySyntaxError, match="got 2 positions"):
        sky.query_data_ids(["visit"], where="visit.region OVERLAPS :r", bind={"r": two})


def test_many_passing_keys_of_several_columns(sky: DirectButler) -> None:
    """Every visit_detector_region passes: on PostgreSQL the key list is then sent as arrays (`in_keys`)."""
    from skybutler.query._spatial_keys import _PG_ARRAYS_FROM

    where = "visit_detector_region.region OVERLAPS CIRCLE(150.0, 2.0, 1.0)"
    found = _ids(sky.query_data_ids(VD, where=where), VD)
    assert found == _brute(sky, "visit_detector_region", _circle(150.0, 2.0, 1.0))
    assert len(found) >= _PG_ARRAYS_FROM
    limited = sky.query_data_ids(VD, where=where, order_by=["-detector", "visit"], limit=5)
    assert [(d["visit"], d["detector"]) for d in limited] == sorted(found, key=lambda k: (-k[1], k[0]))[:5]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ra=st.floats(149.4, 150.6),
    dec=st.floats(1.8, 2.2),
    radius=st.one_of(st.just(0.0), st.floats(0.001, 0.3)),
)
def test_answers_equal_brute_force(sky: DirectButler, ra: float, dec: float, radius: float) -> None:
    """For random points and circles the answer is the brute-force ``not disjoint`` over all records."""
    import lsst.sphgeom as sg

    other = sg.LonLat.fromDegrees(ra, dec) if radius == 0.0 else _circle(ra, dec, radius)
    function = f"POINT({ra!r}, {dec!r})" if radius == 0.0 else f"CIRCLE({ra!r}, {dec!r}, {radius!r})"
    for dims, element in ((VD, "visit_detector_region"), (["visit"], "visit"), (["tract", "patch"], "patch")):
        found = _ids(sky.query_data_ids(dims, where=f"{element}.region OVERLAPS {function}"), dims)
        assert found == _brute(sky, element, other), (element, function)


def _pixels(name: str, region: Any) -> list[int]:
    """Brute force: every pixel of the level whose own region is not disjoint from ``region``."""
    import lsst.sphgeom as sg

    from skybutler.dimensions._regions import pixelization

    pix = pixelization(name)
    near = pix.envelope(region.getBoundingCircle().dilatedBy(sg.Angle.fromDegrees(0.5)), 0).ranges()
    return sorted(p for lo, hi in near for p in range(lo, hi) if not pix.pixel(p).relate(region) & sg.DISJOINT)


@pytest.mark.parametrize("name", ["htm5", "htm7", "htm9", "healpix6", "healpix9"])
def test_skypix_dimensions_are_computed_from_regions(sky: DirectButler, name: str) -> None:
    (patch,) = sky.registry.fetch_dimension_records("patch", skymap="sky", tract=0, patch=4)
    found = sky.query_data_ids([name], where=f"patch.region OVERLAPS {name}.region AND tract = 0 AND patch = 4")
    assert sorted(d[name] for d in found) == _pixels(name, patch.region)
    # joined automatically with the most specific region of the query, here visit 1's detectors
    rows = sky.query_data_ids(["visit", "detector", name], where="visit = 1")
    expected = []
    for record in sky.registry.fetch_dimension_records("visit_detector_region", instrument="Cam", visit=1):
        expected += [(record.detector, p) for p in _pixels(name, record.region)]
    assert sorted((d["detector"], d[name]) for d in rows) == sorted(expected)
    box = _circle(150.0, 2.0, 0.05)
    found = sky.query_data_ids([name], where=f"{name}.region OVERLAPS CIRCLE(150.0, 2.0, 0.05)")
    assert sorted(d[name] for d in found) == _pixels(name, box)
    one = _pixels(name, box)[0]
    assert [d[name] for d in sky.query_data_ids([name], where=f"{name}.region OVERLAPS CIRCLE(150.0, 2.0, 0.05)",
                                                  data_id={name: one})] == [one]  # fmt: skip


def test_a_skypix_dimension_without_a_region_is_refused(sky: DirectButler) -> None:
    from skybutler.errors import DataIdError

    with pytest.raises(DataIdError, match="computed from regions"):
        sky.query_data_ids(["htm7"])
    with pytest.raises(QuerySyntaxError, match="computed from regions"):
        sky.query_data_ids(["htm7", "patch"], where="htm7 = 5")


def test_a_spatial_query_on_postgres_is_two_round_trips(sky: DirectButler) -> None:
    """The skypix prefilter, then the query: one statement each, no BEGIN, COMMIT or server-side cursor (issue 26
    part 2; it was 8 and 9: BEGIN, DECLARE, FETCH 1, FETCH 1000, ..., CLOSE, COMMIT after the prefilter)."""
    if sky.registry.db.dialect != "postgresql":
        pytest.skip("round trips on the wire are a PostgreSQL matter")
    from tests.registry._statements import round_trips

    calls: dict[str, Callable[[float], Any]] = {
        "point": lambda ra: sky.query_data_ids(VD, where=f"visit_detector_region.region OVERLAPS POINT({ra}, 2.0)"),
        "patches of a visit": lambda _: sky.query_data_ids(["tract", "patch"], instrument="Cam", visit=1),
    }
    for name, call in calls.items():
        list(call(150.01))  # statements compiled
        with round_trips(sky.registry.db) as trips:
            found = list(call(150.02))
        assert found, name
        assert len(trips) == 2, (name, trips)
        assert not [t for t in trips if "DECLARE" in t or "BEGIN" in t], trips
