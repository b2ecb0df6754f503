"""Plans written as text for the simplest shapes (``skybutler.query._simple_plans``) answer as the ordinary path.

Every dataset of one type in one RUN, and those datasets' data IDs, are read by SQL this module writes without
building a SQLAlchemy statement.  Each test compares them with the ordinary path, which a ``limit`` larger than
any result forces (the same rows in the same order, the statement built and compiled), on dataset types whose
dimensions imply others through one or two tables (visit → physical_filter → band; exposure → group) or none.
Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.query.conftest import Sky

from skybutler.butler import DirectButler
from skybutler.query._plans import plan_cache

NO_LIMIT = 10**9
"""A limit no result reaches: the call is the same query, but not of a simple shape (the ordinary path)."""


def _more_types(butler: DirectButler) -> dict[str, str]:
    """Dataset types of other dimensions than the ``sky`` repository's, with datasets: name → run."""
    butler.register_dataset_type("raw", ["instrument", "exposure", "detector"], "StructuredDataDict")
    butler.register_dataset_type("flat", ["instrument", "physical_filter", "detector"], "StructuredDataDict")
    butler.register_dataset_type("sky", ["band"], "StructuredDataDict")
    butler.register_dataset_type("camera", ["instrument"], "StructuredDataDict")
    butler.put_many(
        [({}, {"instrument": "Cam", "exposure": e, "detector": d}) for e in range(5) for d in range(3)], "raw",
        run="raw/all",
    )  # fmt: skip
    butler.put_many(
        [({}, {"instrument": "Cam", "physical_filter": f, "detector": d}) for f in ("Cam-g", "Cam-r") for d in (1, 2)],
        "flat", run="proc/v1",
    )  # fmt: skip
    butler.put_many([({}, {"band": b}) for b in ("g", "r", "i")], "sky", run="proc/v1")
    butler.put_many([({}, {"instrument": i}) for i in ("Cam", "Cam2")], "camera", run="proc/v1")
    return {"raw": "raw/all", "flat": "proc/v1", "sky": "proc/v1", "camera": "proc/v1"}


CASES = [
    ("calexp", "proc/v1"),
    ("calexp", "proc/v2"),
    ("calexp", "cam2/run"),
    ("src", "proc/v1"),
    ("summary", "proc/v1"),
    ("bias", "calib/run1"),
    ("calexp", "calib/run1"),  # no datasets of the type there: nothing
]


def test_datasets_of_one_type_in_one_run_answer_as_the_ordinary_path(sky: Sky) -> None:
    b = sky.butler
    cases = CASES + list(_more_types(b).items())
    for name, run in cases:
        plan_cache(b.registry).clear()
        simple = b.query_datasets(name, collections=run)
        assert simple.planned, (name, run)  # on a plan from its first call: no statement was built
        ordinary = b.query_datasets(name, collections=run, limit=NO_LIMIT)
        assert not ordinary.planned
        got = list(simple)
        assert got == list(ordinary), (name, run)
        assert [r.run for r in got] == [run] * len(got)
        assert simple.count() == len(got)  # the ordinary statement, built when counted
        assert simple.any() is bool(got)
        assert (simple.explain_no_results() == []) is bool(got)
    assert [r.data_id["visit"] for r in b.query_datasets("summary", collections="proc/v1")] == list(range(30))


def test_data_ids_of_one_type_in_one_run_answer_as_the_ordinary_path(sky: Sky) -> None:
    b = sky.butler
    cases = CASES + list(_more_types(b).items())
    for name, run in cases:
        dims = list(b.registry.dataset_types.get(name).dataset_type.dimensions.required)
        plan_cache(b.registry).clear()
        simple = b.query_data_ids(dims, datasets=name, collections=run)
        assert simple.planned, (name, run)
        ordinary = b.query_data_ids(dims, datasets=name, collections=run, limit=NO_LIMIT)
        assert not ordinary.planned
        got = list(simple)
        assert got == list(ordinary), (name, run)
        assert [c.full_values for c in got] == [c.full_values for c in ordinary]  # implied values too
        assert all(c.is_full for c in got)
        assert simple.count() == len(got)
    raw = list(b.query_data_ids(["exposure", "detector"], datasets="raw", collections="raw/all"))
    assert {(c["exposure"], c["physical_filter"], c["band"], c["group"]) for c in raw if c["detector"] == 0} == {
        (e, "Cam-r" if e % 2 else "Cam-g", "r" if e % 2 else "g", "night1") for e in range(5)
    }


@pytest.mark.parametrize(
    "call",
    [
        # several collections, a TAGGED one, a CALIBRATION one: find-first, the dataset table, validity ranges
        lambda b: b.query_datasets("calexp", collections="proc"),
        lambda b: b.query_datasets("calexp", collections="best"),
        lambda b: b.query_datasets("bias", collections="calib", find_first=False),
        lambda b: b.query_datasets("calexp", collections=["proc/v1", "cam2/run"]),
        lambda b: b.query_datasets("*", collections="proc/v1"),
        # data IDs other than the dataset type's own: DISTINCT, or dimension tables joined
        lambda b: b.query_data_ids(["visit"], datasets="calexp", collections="proc/v1"),
        lambda b: b.query_data_ids(["visit", "detector", "exposure"], datasets="calexp", collections="proc/v1"),
        lambda b: b.query_data_ids(["visit", "detector"], datasets=["calexp", "src"], collections="proc/v1"),
        lambda b: b.query_data_ids(["visit", "detector"], datasets="calexp", collections="proc"),
        # any constraint
        lambda b: b.query_datasets("calexp", collections="proc/v1", where="instrument = 'Cam' AND visit = 3"),
        lambda b: b.query_datasets("calexp", collections="proc/v1", instrument="Cam"),
        lambda b: b.query_datasets("calexp", collections="proc/v1", order_by=["-visit"]),
    ],
)
def test_other_shapes_take_the_ordinary_path(sky: Sky, call: Any) -> None:
    plan_cache(sky.butler.registry).clear()
    results = call(sky.butler)
    assert not results.planned  # built now; its plan (if any) serves the next call of its shape
    first = list(results)
    again = call(sky.butler)
    assert list(again) == first


def test_new_datasets_and_records_are_seen_by_the_next_call(butler: DirectButler) -> None:
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    butler.put({}, "meta", instrument="Cam", visit=3, detector=1)
    first = butler.query_data_ids(["visit", "detector"], datasets="meta", collections="test/run")
    assert [c["visit"] for c in first] == [3]
    butler.put({}, "meta", instrument="Cam", visit=4, detector=1)
    results = butler.query_data_ids(["visit", "detector"], datasets="meta", collections="test/run")
    assert results.planned
    assert [(c["visit"], c["physical_filter"]) for c in results] == [(3, "Cam-r"), (4, "Cam-g")]
    assert len(list(butler.query_datasets("meta", collections="test/run"))) == 2
