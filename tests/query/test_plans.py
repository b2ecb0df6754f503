"""Query plans (``skybutler.query._plans``): a call run on its cached plan answers exactly as the ordinary path.

Each case runs a query the ordinary way (plan cache cleared: the call builds and compiles its statement, and
derives the plan), then again (on the plan), and compares.  A second value set then runs on the plan and is
compared with its own ordinary answer.  The invalidation tests change the registry between two identical calls.
Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.query.conftest import Sky, found

from skybutler.butler import Butler, DirectButler
from skybutler.errors import DataIdError, QuerySyntaxError
from skybutler.query._plans import plan_cache
from skybutler.testing.sample import populate_sample

Call = Callable[[DirectButler, Any], Any]
"""A query call with its variable value: ``(butler, value) → results``."""


CASES: dict[str, tuple[Call, list[Any], bool]] = {
    # name: (call, values to try, whether the call is planned)
    "w1 where": (
        lambda b, v: b.query_datasets(
            "calexp", collections="proc/v1", where=f"instrument = 'Cam' AND visit > {v} AND detector = 3"
        ),
        [0, 17, 29],
        True,
    ),
    "data id kwargs": (
        lambda b, v: b.query_datasets("calexp", collections="proc/v1", instrument="Cam", detector=v),
        [0, 9],
        True,
    ),
    "string data id value": (
        lambda b, v: b.query_datasets("calexp", collections=["cam2/run", "proc/v1"], instrument=v, visit=3),
        ["Cam", "Cam2"],
        True,
    ),
    "alternate key": (
        lambda b, v: b.query_data_ids(
            ["visit", "detector"], instrument="Cam", **{"detector.full_name": v}, where="visit < 5"
        ),
        ["S03", "S07"],
        True,
    ),
    "several integers and IN": (
        lambda b, v: b.query_datasets(
            "calexp",
            collections="proc/v1",
            instrument="Cam",
            where=f"visit IN ({v}, {v + 2}, 25) AND detector >= {v % 10} AND detector < 8",
        ),
        [1, 4],
        True,
    ),
    "range and string literal": (
        lambda b, v: b.query_data_ids(
            ["visit"], instrument="Cam", where=f"visit IN (10..30) AND visit != {v} AND band = 'r'"
        ),
        [11, 15],
        True,
    ),  # (a range is part of the shape: only its bounds' plain integers would be values)
    "scalar and list binds": (
        lambda b, v: b.query_datasets(
            "calexp",
            collections="proc/v1",
            instrument="Cam",
            where="visit IN (:visits) AND detector = :det",
            bind={"visits": v, "det": 2},
        ),
        [[1, 2, 3], [4, 5, 6]],
        True,
    ),
    "float field": (
        lambda b, v: b.query_data_ids(["visit"], instrument="Cam", where="visit.exposure_time > :t", bind={"t": v}),
        [20.0, 40.5],
        True,
    ),
    "find-first over a chain": (
        lambda b, v: b.query_datasets("calexp", collections="proc", instrument="Cam", where=f"visit < {v}"),
        [5, 12],
        True,
    ),
    "all results of a chain": (
        lambda b, v: b.query_datasets("calexp", collections="proc", instrument="Cam", find_first=False, detector=v),
        [1, 2],
        True,
    ),
    "tagged collection": (
        lambda b, v: b.query_datasets("calexp", collections="best", instrument="Cam", detector=v),
        [3, 4],
        True,
    ),
    "wildcard types, order and limit": (
        lambda b, v: b.query_datasets(
            "*", collections="proc/v1", instrument="Cam", where=f"visit = {v}", order_by=["-detector"], limit=4
        ),
        [3, 12],
        True,
    ),
    "data ids with datasets": (
        lambda b, v: b.query_data_ids(
            ["visit", "detector"], datasets="src", collections="proc/v1", instrument="Cam", detector=v
        ),
        [0, 6],
        True,
    ),
    "no datasets": (
        lambda b, v: b.query_datasets("calexp", collections="proc/v1", instrument="Cam", where=f"visit > {v}"),
        [100, 500],
        True,
    ),
    "negative integer (sign folded into the literal)": (
        lambda b, v: b.query_data_ids(["visit"], instrument="Cam", where=f"visit > -{v}"),
        [1, 2],
        False,
    ),
    "CALIBRATION in the search path": (
        lambda b, v: b.query_datasets("bias", collections="everything", instrument="Cam", visit=v, detector=1),
        [2, 40],
        False,
    ),
}


def _run(butler: DirectButler, call: Call, value: Any) -> tuple[list[Any], bool]:
    results = call(butler, value)
    return list(results), results.planned


@pytest.mark.parametrize("case", list(CASES))
def test_planned_calls_answer_as_the_ordinary_path(sky: Sky, case: str) -> None:
    call, values, planned = CASES[case]
    b = sky.butler
    for value in values:
        plan_cache(b.registry).clear()
        ordinary, used = _run(b, call, value)
        assert not used  # the first call of a shape builds its statement
        again, used = _run(b, call, value)
        assert used is planned
        assert again == ordinary
    # One plan serves every value: the last value's plan answers for the first value too.
    first, used = _run(b, call, values[0])
    plan_cache(b.registry).clear()
    assert first == _run(b, call, values[0])[0]
    assert used is planned


def test_count_any_and_explain_still_work_on_planned_results(sky: Sky) -> None:
    b = sky.butler
    for visit in (3, 500, 4):
        results = b.query_datasets("calexp", collections="proc/v1", instrument="Cam", where=f"visit = {visit}")
        expected = 0 if visit == 500 else 10
        assert results.count() == len(list(results)) == expected
        assert results.any() is bool(expected)
        reasons = results.explain_no_results()
        assert (reasons == []) is bool(expected)
    assert results.planned


def test_values_are_checked_on_planned_calls(sky: Sky) -> None:
    b = sky.butler
    for _ in range(2):
        list(b.query_datasets("calexp", collections="proc/v1", instrument="Cam", where="visit.name = :n",
                              bind={"n": "v1"}))  # fmt: skip
    with pytest.raises(QuerySyntaxError, match="NUL"):
        b.query_datasets("calexp", collections="proc/v1", instrument="Cam", where="visit.name = :n",
                         bind={"n": "v\x001"})  # fmt: skip
    with pytest.raises(DataIdError, match="NUL"):
        b.query_datasets("calexp", collections="proc/v1", instrument="Ca\x00m", where="visit.name = :n",
                         bind={"n": "v1"})  # fmt: skip
    # A bind of another type is another shape (its type checks run again): a string is refused for a number.
    with pytest.raises(QuerySyntaxError):
        b.query_datasets("calexp", collections="proc/v1", instrument="Cam", where="visit > :n", bind={"n": "5"})
    list(b.query_datasets("calexp", collections="proc/v1", instrument="Cam", where="visit > :n", bind={"n": 5}))
    with pytest.raises(QuerySyntaxError):
        b.query_datasets("calexp", collections="proc/v1", instrument="Cam", where="visit > :n", bind={"n": "5"})


# -- invalidation: what changes between two identical calls is seen ----------------------------------------------


def test_new_datasets_between_identical_calls(butler: DirectButler) -> None:
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    where = "instrument = 'Cam' AND visit > 2 AND detector = 1"
    butler.put({}, "meta", instrument="Cam", visit=3, detector=1)
    assert len(list(butler.query_datasets("meta", collections="test/run", where=where))) == 1
    butler.put({}, "meta", instrument="Cam", visit=4, detector=1)
    results = butler.query_datasets("meta", collections="test/run", where=where)
    assert [r.data_id["visit"] for r in results] == [3, 4]
    assert results.planned


def test_new_dataset_type_and_collection_between_identical_calls(butler: DirectButler) -> None:
    butler.register_dataset_type("a", ["instrument", "visit", "detector"], "StructuredDataDict")
    butler.put({}, "a", instrument="Cam", visit=1, detector=1)

    def names(collections: Any) -> list[tuple[str, str]]:
        return [(r.dataset_type.name, r.run) for r in butler.query_datasets("*", collections=collections, visit=1)]

    assert names("test/run") == [("a", "test/run")]
    assert names("test/run") == [("a", "test/run")]  # planned
    butler.register_dataset_type("b", ["instrument", "visit", "detector"], "StructuredDataDict")
    butler.put({}, "b", instrument="Cam", visit=1, detector=1)
    assert names("test/run") == [("a", "test/run"), ("b", "test/run")]
    butler.put({}, "b", instrument="Cam", visit=1, detector=1, run="other")
    # "*" is every collection by name, and find-first keeps the first: b of "other", a of "test/run".
    assert names("*") == names("*") == [("a", "test/run"), ("b", "other")]


def test_dataset_type_redefined_between_identical_calls(butler: DirectButler) -> None:
    butler.register_dataset_type("t", ["instrument", "visit", "detector"], "StructuredDataDict")
    butler.put({}, "t", instrument="Cam", visit=1, detector=1)
    for _ in range(2):
        assert found(butler.query_datasets("t", collections="test/run", instrument="Cam", visit=1)) == [
            ("t", 1, 1, "test/run")
        ]
    butler.collections.remove_runs(["test/run"])
    butler.remove_dataset_type("t")
    butler.register_dataset_type("t", ["instrument", "visit"], "StructuredDataDict")  # same name, other dimensions
    butler.put({}, "t", instrument="Cam", visit=1)
    for _ in range(2):
        assert found(butler.query_datasets("t", collections="test/run", instrument="Cam", visit=1)) == [
            ("t", 1, None, "test/run")
        ]


def test_chain_redefined_between_identical_calls(sky: Sky, repo: str) -> None:
    b = sky.butler

    def runs() -> set[str]:
        return {r.run for r in b.query_datasets("calexp", collections="proc", instrument="Cam", visit=3)}

    assert runs() == runs() == {"proc/v2"}
    b.collections.set_chain("proc", ["proc/v1", "proc/v2"])
    assert runs() == {"proc/v1"}
    with DirectButler(repo, writeable=True) as other:  # another butler (as another process would) redefines it
        other.collections.set_chain("proc", ["cam2/run", "proc/v2"])
    assert runs() == {"proc/v2"}


def test_governor_inferred_on_every_call(butler: DirectButler) -> None:
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    butler.put({}, "meta", instrument="Cam", visit=3, detector=1)
    for visit in (1, 2):  # one instrument: `visit > n` means Cam's visits
        results = butler.query_datasets("meta", collections="test/run", where=f"visit > {visit}")
        assert found(results) == [("meta", 3, 1, "test/run")]
    assert results.planned
    instrument = butler.registry.fetch_dimension_records("instrument")[0].to_dict()
    butler.registry.insert_dimension_records("instrument", [{**instrument, "name": "Cam2"}])
    with pytest.raises(DataIdError, match="several"):
        butler.query_datasets("meta", collections="test/run", where="visit > 1")


def test_plans_are_per_registry(tmp_path: Any) -> None:
    roots = [Butler.create(tmp_path / name) for name in ("one", "two")]
    answers = []
    for root, n in zip(roots, (2, 3), strict=True):
        with DirectButler(root, run="r") as b:
            populate_sample(b, n_visits=n)
            b.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
            b.put_many([({}, {"instrument": "Cam", "visit": v, "detector": 1}) for v in range(n)], "meta")
            answers.append([len(list(b.query_datasets("meta", collections="r", where="visit >= 0"))) for _ in "ab"])
    assert answers == [[2, 2], [3, 3]]


# -- property: for random shapes and values, a plan derived from one value set answers for another ------------------

TEMPLATES = [
    "visit > {} AND detector = {}",
    "visit >= {} AND visit < {} OR detector IN ({}, 7)",
    "NOT (visit = {}) AND detector != {} AND band = 'g'",
    "visit * 2 + {} > detector * {}",
    "visit.exposure_time > {} AND detector < {}",
]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DirectButler]:
    """SQLite: the sample instrument (20 visits, 10 detectors) with a dataset per (visit, detector) in two runs."""
    root = Butler.create(tmp_path_factory.mktemp("plans") / "repo")
    with DirectButler(root, run="a") as b:
        populate_sample(b)
        for record in b.registry.fetch_dimension_records("visit"):
            data = record.to_dict()
            data["exposure_time"] = float(data["id"] % 7) * 10
            b.registry.sync_dimension_records("visit", data, update=True)
        b.register_dataset_type("m", ["instrument", "visit", "detector"], "StructuredDataDict")
        pairs = [(v, d) for v in range(20) for d in range(10)]
        b.put_many([({}, {"instrument": "Cam", "visit": v, "detector": d}) for v, d in pairs], "m", run="a")
        again: list[tuple[Any, dict[str, Any]]] = [
            ({}, {"instrument": "Cam", "visit": v, "detector": d}) for v, d in pairs if (v + d) % 3 == 0
        ]
        b.put_many(again, "m", run="b")
        yield b


def _numbers(n: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(-3, 40), min_size=n, max_size=n)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), template=st.sampled_from(TEMPLATES), kind=st.sampled_from(["refs", "all refs", "ids"]))
def test_random_shapes_agree(small: DirectButler, data: st.DataObject, template: str, kind: str) -> None:
    holes = template.count("{}")
    first, second = data.draw(_numbers(holes)), data.draw(_numbers(holes))
    detector = data.draw(st.integers(0, 9))

    def call(values: list[int]) -> Any:
        where = template.format(*values)
        if kind == "ids":
            return small.query_data_ids(["visit", "detector"], datasets="m", collections=["b", "a"], where=where)
        order = ["-visit"] if detector % 2 else None
        return small.query_datasets(
            "m",
            collections=["b", "a"],
            where=where,
            find_first=kind == "refs",
            data_id={"instrument": "Cam"},
            order_by=order,
        )

    plan_cache(small.registry).clear()
    list(call(first))  # the ordinary path, which derives the plan
    planned = call(second)
    answer = list(planned)
    plan_cache(small.registry).clear()
    assert answer == list(call(second))
    if all(v >= 0 for v in first + second):  # a negative literal folds its sign in: that shape is not planned
        assert planned.planned


def test_a_shape_without_plan_is_not_tried_again(sky: Sky, monkeypatch: pytest.MonkeyPatch) -> None:
    import skybutler.query._plans as plans

    b = sky.butler
    plan_cache(b.registry).clear()
    list(b.query_data_ids(["visit"], instrument="Cam", where="visit > -3"))  # `-3` folds its sign: no plan
    tries: list[Any] = []
    real = plans.remember_plans

    def spy(*args: Any) -> Any:
        tries.append(args)
        return real(*args)

    monkeypatch.setattr("skybutler.query._plans.remember_plans", spy)
    for n in (4, 5):
        results = b.query_data_ids(["visit"], instrument="Cam", where=f"visit > -{n}")
        assert not results.planned
        assert len(list(results)) == 100
    assert tries == []
    list(b.query_data_ids(["visit"], instrument="Cam", where="visit > 3"))  # another shape: planned
    assert len(tries) == 1


def test_a_first_call_runs_on_the_plans_it_derives(sky: Sky, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plans reproduce the first call's SQL, so its rows are read by them: no third compile of the statement."""
    b = sky.butler
    db = b.registry.db
    compiled: list[Any] = []
    real = type(db).stream_rows

    def spy(self: Any, stmt: Any, page: int = 1000) -> Any:
        compiled.append(stmt)
        return real(self, stmt, page)

    monkeypatch.setattr(type(db), "stream_rows", spy)
    plan_cache(b.registry).clear()
    first = b.query_data_ids(
        ["visit", "detector"], datasets="calexp", collections="proc/v1", instrument="Cam", where="visit > 3"
    )
    answer = list(first)
    assert not first.planned  # its statement was built, then its plans derived
    assert compiled == []
    again = b.query_data_ids(
        ["visit", "detector"], datasets="calexp", collections="proc/v1", instrument="Cam", where="visit > 3"
    )
    assert again.planned
    assert list(again) == answer
    assert len(answer) == 26 * 10
    # a shape without plans (a negative literal folds its sign in) reads by its statement
    assert len(list(b.query_data_ids(["visit"], instrument="Cam", where="visit > -3"))) == 100
    assert len(compiled) == 1


def test_a_shape_without_slots_is_built_and_compiled_once(sky: Sky, monkeypatch: pytest.MonkeyPatch) -> None:
    """No slots (no integer literal, data ID value or bind): the rebuild would take the call's own inputs, so
    the plan is read from the call's statement with one compile; with slots the marked rebuild is compiled too.
    The simplest shapes (one type in one RUN, nothing else: `_simple_plans`) are not compiled at all."""
    import skybutler.query._plans as plans

    b = sky.butler
    compiles: list[Any] = []
    real = plans._compiled

    def spy(stmt: Any, dialect: Any) -> Any:
        compiles.append(stmt)
        return real(stmt, dialect)

    monkeypatch.setattr("skybutler.query._plans._compiled", spy)
    calls: list[tuple[Callable[[], Any], int]] = [
        (lambda: b.query_datasets("calexp", collections="proc"), 1),
        (lambda: b.query_data_ids(["visit"], datasets="calexp", collections="proc/v1"), 1),
        (lambda: b.query_datasets("calexp", collections="proc/v1"), 0),
        (lambda: b.query_data_ids(["visit", "detector"], datasets="calexp", collections="proc/v1"), 0),
    ]
    for call, n_compiles in calls:
        plan_cache(b.registry).clear()
        compiles.clear()
        first = call()
        answer = list(first)
        assert first.planned is (n_compiles == 0)
        assert len(compiles) == n_compiles
        assert answer
        again = call()
        assert again.planned
        assert list(again) == answer
    plan_cache(b.registry).clear()
    compiles.clear()
    assert list(b.query_data_ids(["visit"], instrument="Cam", where="visit > 3"))
    assert len(compiles) == 2
