"""Spatial queries on cached plans (PostgreSQL, `_spatial_plan`) and the join with one side fixed by the data ID
(`_spatial_fixed`, both back-ends): answers equal the brute-force check, call after call, whatever path ran.

The sample is `skybutler.testing.spatial.fill_spatial_sample`'s (see tests/query/test_spatial.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from skybutler.butler import DirectButler
from skybutler.errors import QuerySyntaxError
from skybutler.testing.spatial import fill_spatial_sample

VD = ["visit", "detector"]
TP = ["tract", "patch"]
WHERE = "visit_detector_region.region OVERLAPS POINT(:ra, :dec)"
POINTS = [(150.01, 2.0), (149.81, 2.0), (150.2, 2.01), (10.0, -40.0), (150.0, 2.1), (150.1, 2.0)]
"""Inside one detector, at a seam, at the sample's edge, far from everything, between detectors (the exact
check removes the prefilter's candidates), on a boundary of two visits."""


@pytest.fixture
def sky(repo: str) -> Iterator[DirectButler]:
    with DirectButler(repo, run="run") as butler:
        fill_spatial_sample(butler.registry)
        yield butler


def _ids(found: Any, dims: list[str]) -> list[tuple[Any, ...]]:
    return sorted(tuple(d[k] for k in dims) for d in found)


def _regions(butler: DirectButler, element: str) -> dict[tuple[Any, ...], Any]:
    return {record.key[1:]: record.region for record in butler.registry.fetch_dimension_records(element)}


def _near_point(butler: DirectButler, ra: float, dec: float) -> list[tuple[Any, ...]]:
    import lsst.sphgeom as sg

    point = sg.UnitVector3d(sg.LonLat.fromDegrees(ra, dec))
    return sorted(k for k, region in _regions(butler, "visit_detector_region").items() if region.contains(point))


def _patches_of(butler: DirectButler, visit: int) -> list[tuple[Any, ...]]:
    import lsst.sphgeom as sg

    mine = _regions(butler, "visit")[(visit,)]
    return sorted(k for k, region in _regions(butler, "patch").items() if not region.relate(mine) & sg.DISJOINT)


def test_repeated_point_queries_run_on_their_plan_with_the_same_answers(sky: DirectButler) -> None:
    for ra, dec in POINTS * 2:
        found = sky.query_data_ids(VD, where=WHERE, bind={"ra": ra, "dec": dec})
        assert _ids(found, VD) == _near_point(sky, ra, dec), (ra, dec)
    again = sky.query_data_ids(VD, where=WHERE, bind={"ra": 150.01, "dec": 2.0})
    assert again.planned is (sky.registry.db.dialect == "postgresql")  # SQLite keeps the ordinary path
    assert _ids(again, VD) == _near_point(sky, 150.01, 2.0) != []
    # order and limit apply after the exact check, on the plan too
    first = sky.query_data_ids(VD, where=WHERE, bind={"ra": 150.1, "dec": 2.0}, order_by=["-visit"], limit=1)
    assert _ids(first, VD) == _near_point(sky, 150.1, 2.0)[-1:]


def test_a_planned_point_query_explains_and_refuses_as_the_ordinary_path(sky: DirectButler) -> None:
    for ra, dec in POINTS:
        list(sky.query_data_ids(VD, where=WHERE, bind={"ra": ra, "dec": dec}))
    far = sky.query_data_ids(VD, where=WHERE, bind={"ra": 10.0, "dec": -40.0})
    assert list(far) == []
    assert [r for r in far.explain_no_results() if "region" in r and "no rows" in r]
    gap = sky.query_data_ids(VD, where=WHERE, bind={"ra": 150.0, "dec": 2.1})
    assert list(gap) == []
    (reason,) = [r for r in gap.explain_no_results() if "region" in r]
    assert "exact region check removed them all" in reason
    with pytest.raises(QuerySyntaxError, match="91"):  # at the call, not when read
        sky.query_data_ids(VD, where=WHERE, bind={"ra": 150.0, "dec": 91.0})


def test_patches_of_a_visit_match_the_general_join_and_brute_force(sky: DirectButler) -> None:
    """``visit=`` in the data ID takes the fixed-side path; ``visit = N`` in the where, the general join."""
    for visit in (0, 1, 2, 0, 1, 2):
        fixed = sky.query_data_ids(TP, instrument="Cam", visit=visit)
        general = sky.query_data_ids(TP, where=f"instrument = 'Cam' AND visit = {visit}")
        assert _ids(fixed, TP) == _ids(general, TP) == _patches_of(sky, visit) != [], visit
    with_visit = sky.query_data_ids(["visit", *TP], instrument="Cam", visit=1)
    assert sorted((1, *k) for k in _patches_of(sky, 1)) == _ids(with_visit, ["visit", *TP])
    assert _ids(sky.query_data_ids(TP, instrument="Cam", visit=999), TP) == []  # no such visit: no region


def test_a_nested_spatial_term_beside_a_top_level_one_is_not_planned(sky: DirectButler) -> None:
    import lsst.sphgeom as sg

    where = f"{WHERE} AND (visit.region OVERLAPS POINT(:ra2, :dec2) OR detector = 0)"
    visits = _regions(sky, "visit")
    for ra, dec, ra2 in [(150.01, 2.0, 150.2), (149.81, 2.0, 149.8), (150.1, 2.0, 10.0)] * 2:
        bind = {"ra": ra, "dec": dec, "ra2": ra2, "dec2": 2.0}
        found = sky.query_data_ids(VD, where=where, bind=bind)
        other = sg.UnitVector3d(sg.LonLat.fromDegrees(ra2, 2.0))
        expected = [k for k in _near_point(sky, ra, dec) if visits[k[:1]].contains(other) or k[1] == 0]
        assert _ids(found, VD) == expected, bind
        assert not found.planned


def test_a_planned_spatial_query_is_two_round_trips(sky: DirectButler) -> None:
    """On a plan: the program's statement, then the query with its keys (a pipeline: one wait for the server)."""
    if sky.registry.db.dialect != "postgresql":
        pytest.skip("round trips on the wire are a PostgreSQL matter")
    from tests.registry._statements import round_trips

    for _ in range(6):  # planned, and prepared by psycopg
        list(sky.query_data_ids(VD, where=WHERE, bind={"ra": 150.01, "dec": 2.0}))
        list(sky.query_data_ids(TP, instrument="Cam", visit=1))
    calls: list[Callable[[], Any]] = [
        lambda: sky.query_data_ids(VD, where=WHERE, bind={"ra": 150.02, "dec": 2.0}),
        lambda: sky.query_data_ids(TP, instrument="Cam", visit=2),
    ]
    for call in calls:
        with round_trips(sky.registry.db) as trips:
            results = call()
            found = list(results)
        assert found
        assert results.planned
        assert len(trips) == 2, trips


def test_a_spatial_plan_leaves_the_session_settings_as_they_were(sky: DirectButler) -> None:
    """The generic-plan setting is the session's: reset after each statement, in a transaction too."""
    if sky.registry.db.dialect != "postgresql":
        pytest.skip("plan_cache_mode is PostgreSQL's")
    db = sky.registry.db
    for ra, dec in POINTS * 2:
        list(sky.query_data_ids(VD, where=WHERE, bind={"ra": ra, "dec": dec}))
    with db.transaction(write=False):
        found = sky.query_data_ids(VD, where=WHERE, bind={"ra": 150.01, "dec": 2.0})
        assert found.planned
        assert _ids(found, VD) == _near_point(sky, 150.01, 2.0) != []
    assert db._driver().execute("SHOW plan_cache_mode").fetchone()[0] == "auto"


def test_a_spatial_plan_runs_on_the_connection_kept_for_generic_plans(sky: DirectButler) -> None:
    """Outside a transaction the plan's statement goes to a second connection whose session plans generically
    (no setting set and reset around each statement); the registry's own session keeps its default."""
    if sky.registry.db.dialect != "postgresql":
        pytest.skip("plan_cache_mode is PostgreSQL's")
    db = sky.registry.db
    for ra, dec in POINTS * 2:
        found = sky.query_data_ids(VD, where=WHERE, bind={"ra": ra, "dec": dec})
        assert _ids(found, VD) == _near_point(sky, ra, dec)
    assert found.planned
    generic = db._generic.driver_connection
    assert generic.execute("SHOW plan_cache_mode").fetchone()[0] == "force_generic_plan"
    assert db._driver().execute("SHOW plan_cache_mode").fetchone()[0] == "auto"
    assert generic.info.backend_pid != db._driver().info.backend_pid
    sky.close()
    assert generic.closed
    assert db._generic is None


def test_a_lost_generic_plan_connection_fails_clearly_and_the_next_call_reconnects(sky: DirectButler) -> None:
    if sky.registry.db.dialect != "postgresql":
        pytest.skip("a PostgreSQL connection")
    from skybutler.errors import StorageError

    db = sky.registry.db
    for ra, dec in POINTS * 2:
        list(sky.query_data_ids(VD, where=WHERE, bind={"ra": ra, "dec": dec}))
    pid = db._generic.driver_connection.info.backend_pid
    main = db._driver()
    main.autocommit = True
    main.execute("SELECT pg_terminate_backend(%s)", (pid,))
    main.autocommit = False
    with pytest.raises(StorageError, match=r"lost.*retry"):
        list(sky.query_data_ids(VD, where=WHERE, bind={"ra": 150.01, "dec": 2.0}))
    assert db._generic is None
    found = sky.query_data_ids(VD, where=WHERE, bind={"ra": 150.01, "dec": 2.0})
    assert _ids(found, VD) == _near_point(sky, 150.01, 2.0) != []
    assert found.planned
    reopened: Any = db._generic
    assert reopened.driver_connection.info.backend_pid != pid
