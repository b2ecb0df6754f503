"""Spatial terms anywhere in the expression (under OR and NOT), and skypix regions compared with each other.

On the small spatial sample (`skybutler.testing.spatial.fill_spatial_sample`), SQLite and PostgreSQL; the
expected answers come from brute force over every record or pixel with sphgeom, never from the code under
test.  tests/query/test_spatial_reference.py checks the same against the reference's answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybutler.butler import DirectButler
from skybutler.errors import QuerySyntaxError
from skybutler.testing.spatial import fill_spatial_sample

VD = ["visit", "detector"]


@pytest.fixture
def sky(repo: str) -> Iterator[DirectButler]:
    with DirectButler(repo, run="run") as butler:
        fill_spatial_sample(butler.registry)
        butler.register_dataset_type("calexp", VD, "StructuredDataDict")
        for visit in range(3):
            for detector in range(4):
                butler.put({"v": visit}, "calexp", instrument="Cam", visit=visit, detector=detector)
        yield butler


def _ids(butler: DirectButler, dims: list[str], where: str, **kwargs: Any) -> set[tuple[Any, ...]]:
    return {tuple(d[k] for k in dims) for d in butler.query_data_ids(dims, where=where, **kwargs)}


def _brute(butler: DirectButler, element: str, ra: float, dec: float) -> set[tuple[Any, ...]]:
    import lsst.sphgeom as sg

    point = sg.UnitVector3d(sg.LonLat.fromDegrees(ra, dec))
    return {r.key[1:] for r in butler.registry.fetch_dimension_records(element) if r.region.contains(point)}


def test_or_and_not_of_spatial_terms(sky: DirectButler) -> None:
    every = _ids(sky, VD, "")
    a = _brute(sky, "visit_detector_region", 150.01, 2.0)
    b = {k for k in every if k[1] == 3}
    assert a
    assert len(every) == 12
    term = "visit_detector_region.region OVERLAPS POINT(150.01, 2.0)"
    assert _ids(sky, VD, f"{term} OR detector = 3") == a | b
    assert _ids(sky, VD, f"NOT {term}") == every - a
    assert _ids(sky, VD, f"NOT ({term} OR detector = 3)") == every - (a | b)
    assert _ids(sky, VD, f"visit = 1 AND NOT {term}") == {k for k in every - a if k[0] == 1}
    visits = {(k,) for k in (0, 1, 2)}
    assert _ids(sky, ["visit"], "visit.region OVERLAPS POINT(1.0, 1.0) OR NOT visit.region OVERLAPS POINT(1, 1)") == (
        visits
    )
    # a constant compared with a constant, nested: decided once
    assert _ids(sky, ["visit"], "POINT(150, 2) OVERLAPS CIRCLE(150, 2, 1) OR visit = 0") == visits
    assert _ids(sky, ["visit"], "NOT (POINT(150, 2) OVERLAPS CIRCLE(10, 2, 1)) AND visit = 0") == {(0,)}


def test_or_of_two_element_regions(sky: DirectButler) -> None:
    """A relation between two elements under OR: the automatic join still applies (no top-level term relates
    the families), and the OR keeps the pairs either branch allows."""
    import lsst.sphgeom as sg

    dims = ["visit", "tract", "patch"]
    joined = _ids(sky, dims, "")
    patches = {r.key[1:]: r.region for r in sky.registry.fetch_dimension_records("patch")}
    visits = {r.key[1:]: r.region for r in sky.registry.fetch_dimension_records("visit")}
    brute = {(v, *p) for (v,), vr in visits.items() for p, pr in patches.items() if not (vr.relate(pr) & sg.DISJOINT)}
    assert joined == brute
    assert _ids(sky, dims, "NOT (visit.region OVERLAPS patch.region) OR visit = 0") == {k for k in brute if k[0] == 0}
    assert _ids(sky, dims, "visit.region OVERLAPS visit.region OR visit = 0") == brute


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ra=st.floats(149.6, 150.6), dec=st.floats(1.8, 2.2), detector=st.integers(0, 3))
def test_nested_terms_equal_brute_force(sky: DirectButler, ra: float, dec: float, detector: int) -> None:
    every = _ids(sky, VD, "")
    hit = _brute(sky, "visit_detector_region", ra, dec)
    term = f"visit_detector_region.region OVERLAPS POINT({ra!r}, {dec!r})"
    assert _ids(sky, VD, f"NOT {term} OR detector = {detector}") == (every - hit) | {
        k for k in every if k[1] == detector
    }


def _pixels(level: int, region: Any) -> set[int]:
    import lsst.sphgeom as sg

    pix = sg.HtmPixelization(level)
    return {
        p
        for lo, hi in pix.envelope(region).ranges()
        for p in range(lo, hi)
        if not (pix.pixel(p).relate(region) & sg.DISJOINT)
    }


def test_two_skypix_regions_compared(sky: DirectButler) -> None:
    import lsst.sphgeom as sg

    circle = sg.Circle(sg.UnitVector3d(sg.LonLat.fromDegrees(150.0, 2.0)), sg.Angle.fromDegrees(0.1))
    h7 = _pixels(7, circle)
    expected = {(a, b) for a in h7 for b in _pixels(9, sg.HtmPixelization(7).pixel(a))}
    where = "htm7.region OVERLAPS CIRCLE(150.0, 2.0, 0.1) AND htm7.region OVERLAPS htm9.region"
    assert _ids(sky, ["htm7", "htm9"], where) == expected
    # the other way round, and one pixel given in the data ID
    where = "htm9.region OVERLAPS htm7.region AND htm7.region OVERLAPS CIRCLE(150.0, 2.0, 0.1)"
    assert _ids(sky, ["htm7", "htm9"], where) == expected
    one = min(h7)
    assert _ids(sky, ["htm9"], "htm7.region OVERLAPS htm9.region", htm7=one) == {(b,) for a, b in expected if a == one}
    # both made from regions of their own: only the overlapping pairs stay
    point = sg.LonLat.fromDegrees(150.0, 2.0)
    h9 = _pixels(9, sg.Circle(sg.UnitVector3d(point), sg.Angle.fromDegrees(0.02)))
    where = ("htm7.region OVERLAPS CIRCLE(150.0, 2.0, 0.1) AND htm9.region OVERLAPS CIRCLE(150.0, 2.0, 0.02) "
             "AND htm7.region OVERLAPS htm9.region")  # fmt: skip
    assert _ids(sky, ["htm7", "htm9"], where) == {(a, b) for a, b in expected if b in h9}
    # with a visit: the skypix pixels of the visit's region, then the finer ones inside them
    visit = next(r for r in sky.registry.fetch_dimension_records("visit") if r.key[1:] == (1,))
    coarse = _pixels(5, visit.region)
    fine = {(a, b) for a in coarse for b in _pixels(6, sg.HtmPixelization(5).pixel(a))}
    assert _ids(sky, ["htm5", "htm6"], "visit = 1 AND htm5.region OVERLAPS visit.region AND htm5.region "
                "OVERLAPS htm6.region") == fine  # fmt: skip


def test_a_skypix_region_under_or_is_refused(sky: DirectButler) -> None:
    with pytest.raises(QuerySyntaxError, match=r"htm7\.region can only be compared in a term of the top-level AND"):
        sky.query_data_ids(["visit"], where="htm7.region OVERLAPS POINT(150.0, 2.0) OR visit = 1")


def test_the_spatial_step_waits_until_the_results_are_read(sky: DirectButler, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spatial query call runs none of its SQL (prefilter, exact check) until its results are read; a bad
    expression still fails at the call.  Every read of the spatial step goes through ``read_rows``: it is
    wrapped here to count them (and still runs)."""
    from skybutler.query import _skypix, _spatial, _spatial_nested

    reads: list[str] = []
    real = _spatial.read_rows

    def counted(builder: Any, stmt: Any, params: Any = None) -> list[Any]:
        reads.append(str(stmt))
        return real(builder, stmt, params)

    for module in (_spatial, _skypix, _spatial_nested):
        monkeypatch.setattr(module, "read_rows", counted)
    for where in (
        "visit_detector_region.region OVERLAPS visit.region AND visit = 1",
        "NOT visit_detector_region.region OVERLAPS POINT(150.01, 2.0) OR detector = 3",
        "htm7.region OVERLAPS htm9.region AND htm7.region OVERLAPS CIRCLE(150.0, 2.0, 0.01)",
    ):
        dims = ["htm7", "htm9"] if "htm9" in where else VD
        results = sky.query_data_ids(dims, where=where)
        datasets = sky.query_datasets("calexp", collections="run", where=where) if dims == VD else None
        assert reads == [], where
        assert len(list(results)) > 0
        assert reads != [], where
        if datasets is not None:
            reads.clear()
            refs = list(datasets)
            assert reads != [], where
            assert {(r.data_id["visit"], r.data_id["detector"]) for r in refs} == _ids(sky, VD, where)
        reads.clear()
    with pytest.raises(QuerySyntaxError, match=r"declination 95\.0"):
        sky.query_data_ids(["visit"], where="NOT visit.region OVERLAPS POINT(1, 95)")
    assert reads == []
