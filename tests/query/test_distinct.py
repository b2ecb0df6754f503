"""SELECT DISTINCT only where rows can repeat (issue 26): the SQL's shape, and answers equal to always-DISTINCT.

A query's joined rows are identified by the keys of the tables joined (`QueryBuilder.keys`): a records table looked
up by its whole primary key (visit → physical_filter) adds nothing; a tags table searched in one collection is
unique by data ID.  When the selected columns hold such a key, no row repeats and the DISTINCT (a sort or a
temporary index in SQLite) is left out.  Where rows can repeat — several collections, a dimension joined but not
selected, a many-to-many pair such as exposure and visit, certifications — it stays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.query.conftest import Sky

from skybutler.butler import DirectButler
from skybutler.query._builder import QueryBuilder
from skybutler.query._plans import plan_cache

Call = Callable[[DirectButler], Any]

# name: (call, whether its statement needs DISTINCT)
CASES: dict[str, tuple[Call, bool]] = {
    # W1's query_data_ids: tags of one RUN, visit and physical_filter looked up by primary key
    "data IDs of one type in one RUN": (
        lambda b: b.query_data_ids(["visit", "detector"], datasets="calexp", collections="proc/v1"),
        False,
    ),
    # W1's query_all
    "datasets of one type in one RUN": (lambda b: b.query_datasets("calexp", collections="proc/v1"), False),
    "datasets with a where on a record field": (
        lambda b: b.query_datasets("calexp", collections="proc/v1", where="visit.exposure_time > 20"),
        False,
    ),
    "datasets ordered by a record field": (
        lambda b: b.query_datasets("calexp", collections="proc/v1", order_by=["-visit.exposure_time"]),
        False,
    ),
    "find-first over two RUNs": (lambda b: b.query_datasets("calexp", collections=["proc/v2", "proc/v1"]), False),
    "every dataset of two RUNs": (
        lambda b: b.query_datasets("calexp", collections=["proc/v2", "proc/v1"], find_first=False),
        False,
    ),
    "data IDs of two types": (
        lambda b: b.query_data_ids(["visit", "detector"], datasets=["calexp", "src"], collections="proc/v1"),
        False,
    ),
    "data IDs without datasets": (lambda b: b.query_data_ids(["visit", "detector"], instrument="Cam"), False),
    "records of one element": (lambda b: b.query_dimension_records("visit", instrument="Cam"), False),
    # the same data ID in two collections: once
    "data IDs of one type in two RUNs": (
        lambda b: b.query_data_ids(["visit", "detector"], datasets="calexp", collections=["proc/v1", "proc/v2"]),
        True,
    ),
    # ten detectors per visit: each visit once
    "data IDs of fewer dimensions than the datasets'": (
        lambda b: b.query_data_ids(["visit"], datasets="calexp", collections="proc/v1"),
        True,
    ),
    "a dimension joined by the where, not selected": (
        lambda b: b.query_data_ids(["detector"], instrument="Cam", where="visit.exposure_time > 20"),
        True,
    ),
    # exposure and visit: many to many here (a cross product within the instrument)
    "exposures of visits": (lambda b: b.query_data_ids(["exposure"], instrument="Cam", where="visit < 5"), True),
    "bias joined with visits": (
        lambda b: b.query_datasets("bias", collections="calib/run1", where="visit < 5", instrument="Cam"),
        True,
    ),
    "calibrations without time": (
        lambda b: b.query_data_ids(["detector"], datasets="bias", collections="calib", instrument="Cam"),
        True,
    ),
    "records filtered by another dimension": (
        lambda b: b.query_dimension_records("detector", instrument="Cam", where="visit < 3"),
        True,
    ),
}


def _sql(results: Any) -> str:
    return str(results._statement())


def _answer(butler: DirectButler, call: Call) -> list[Any]:
    plan_cache(butler.registry).clear()
    return list(call(butler))


@pytest.mark.parametrize("case", list(CASES))
def test_distinct_only_where_rows_can_repeat(sky: Sky, case: str) -> None:
    call, needs_distinct = CASES[case]
    results = call(sky.butler)
    if isinstance(results, list):  # dimension records: the statement is not kept; compare the answers below
        return
    assert ("DISTINCT" in _sql(results)) is needs_distinct, _sql(results)


@pytest.mark.parametrize("case", list(CASES))
def test_answers_equal_always_distinct(sky: Sky, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    call = CASES[case][0]
    b = sky.butler
    answer = _answer(b, call)
    assert answer  # every case has rows: an empty answer would compare nothing
    if case != "records of one element" and not isinstance(call(b), list):
        assert len(answer) == len(set(answer)), "a row repeats"
    monkeypatch.setattr(QueryBuilder, "unique", lambda self, columns: False)
    always = _answer(b, call)
    # the same rows in the same order of data IDs (datasets of one data ID in several runs tie in any order)
    assert sorted(answer, key=repr) == sorted(always, key=repr)
    assert [getattr(x, "data_id", x) for x in answer] == [getattr(x, "data_id", x) for x in always]


def test_records_statement_shape(sky: Sky, monkeypatch: pytest.MonkeyPatch) -> None:
    """Record queries build and run their statement at once: catch the decision on its way."""
    seen: list[bool] = []
    real = QueryBuilder.unique

    def spy(self: QueryBuilder, columns: Any) -> bool:
        seen.append(real(self, columns))
        return seen[-1]

    monkeypatch.setattr(QueryBuilder, "unique", spy)
    sky.butler.query_dimension_records("visit", instrument="Cam")
    sky.butler.query_dimension_records("detector", instrument="Cam", where="visit < 3")
    assert seen == [True, False]
