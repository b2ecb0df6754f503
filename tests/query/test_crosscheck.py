"""Cross-check: for random where-expressions, SQL's answer equals a pure-Python evaluation over every row.

SQLite only, for speed (one repository for all examples; the semantics compared are the query compiler's, and
``test_queries.py`` runs the same compiler on PostgreSQL).  Python follows SQL's three-valued logic: a comparison
with a NULL ``visit.exposure_time`` is unknown, ``NOT unknown`` is unknown, and only rows that are true are kept.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skybutler.butler import Butler, DirectButler
from skybutler.query import parse_where
from skybutler.query._ast import And, Compare, Identifier, In, Literal, Node, Not, Or, Range
from skybutler.testing.sample import populate_sample

N_VISITS = 100
N_DETECTORS = 10
FILTERS = {"Cam-g": "g", "Cam-r": "r", "Cam-i": "i"}
EXPOSURE_TIMES: list[float | None] = [15.0, 30.0, None, 45.0, 60.0, 30.0, 22.5]

Row = dict[str, Any]


def visit_filter(visit: int) -> str:
    return list(FILTERS)[(visit * 7) % 3]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DirectButler]:
    """A SQLite repository: instrument Cam, 10 detectors, 100 visits over three filters, some exposure times NULL."""
    root = Butler.create(tmp_path_factory.mktemp("crosscheck") / "repo")
    with DirectButler(root, run="run") as butler:
        populate_sample(butler, n_visits=0, n_detectors=N_DETECTORS)
        butler.registry.insert_dimension_records("band", [{"name": "i"}])
        butler.registry.insert_dimension_records(
            "physical_filter", [{"instrument": "Cam", "name": "Cam-i", "band": "i"}]
        )
        begin = 1_735_732_837 * 10**9
        butler.registry.insert_dimension_records(
            "visit",
            [
                {"instrument": "Cam", "id": v, "name": f"v{v}", "physical_filter": visit_filter(v), "day_obs": 20250101,
                 "exposure_time": EXPOSURE_TIMES[v % len(EXPOSURE_TIMES)],
                 "timespan": (begin + v * 60 * 10**9, begin + (v * 60 + 30) * 10**9)}
                for v in range(N_VISITS)
            ],
        )  # fmt: skip
        yield butler


def all_rows() -> list[Row]:
    """Every (visit, detector) with the values the expressions can name (the same as the fixture inserts)."""
    return [
        {
            "visit": v,
            "detector": d,
            "physical_filter": visit_filter(v),
            "band": FILTERS[visit_filter(v)],
            "visit.exposure_time": EXPOSURE_TIMES[v % len(EXPOSURE_TIMES)],
        }
        for v in range(N_VISITS)
        for d in range(N_DETECTORS)
    ]


# -- the pure-Python evaluator (Kleene logic: None is "unknown") ---------------------------------------------------

COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def value(node: Node, row: Row) -> Any:
    if isinstance(node, Identifier):
        return row[str(node)]
    assert isinstance(node, Literal)
    return node.value


def evaluate(node: Node, row: Row) -> bool | None:
    if isinstance(node, Compare):
        left, right = value(node.left, row), value(node.right, row)
        return None if left is None or right is None else COMPARE[node.op](left, right)
    if isinstance(node, In):
        subject = value(node.expr, row)
        if subject is None:
            return None
        hit = any(subject in i.values() if isinstance(i, Range) else subject == value(i, row) for i in node.items)
        return hit != node.negated
    if isinstance(node, Not):
        inner = evaluate(node.operand, row)
        return None if inner is None else not inner
    if isinstance(node, And):
        results = [evaluate(i, row) for i in node.items]
        return False if False in results else None if None in results else True
    if isinstance(node, Or):
        results = [evaluate(i, row) for i in node.items]
        return True if True in results else None if None in results else False
    raise AssertionError(f"not generated: {node!r}")


# -- random expressions ------------------------------------------------------------------------------------------

ops = st.sampled_from(list(COMPARE))
visits = st.integers(-3, N_VISITS + 3)
detectors = st.integers(-2, N_DETECTORS + 2)
filter_names = st.sampled_from([*FILTERS, "Cam-z", ""])
band_names = st.sampled_from(["g", "r", "i", "z"])
times = st.sampled_from([0, 15, 22.5, 30, 44.9, 45.0, 60, 100])


def ranges(values: st.SearchStrategy[int]) -> st.SearchStrategy[Range]:
    return st.tuples(values, st.integers(0, 30), st.integers(1, 4)).map(lambda t: Range(t[0], t[0] + t[1], t[2]))


def identifier(name: str) -> Identifier:
    element, _, field = name.partition(".")
    return Identifier(element, field or None)


def comparison(name: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[Node]:
    ident = identifier(name)
    literal = values.map(Literal)
    return st.one_of(
        st.builds(Compare, ops, st.just(ident), literal),
        st.builds(Compare, ops, literal, st.just(ident)),
    )


def membership(name: str, items: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    ident = identifier(name)
    return st.builds(In, st.just(ident), st.lists(items, min_size=1, max_size=4).map(tuple), st.booleans())


predicates = st.one_of(
    comparison("visit", visits),
    comparison("detector", detectors),
    comparison("physical_filter", filter_names),
    comparison("band", band_names),
    comparison("visit.exposure_time", times),
    membership("visit", st.one_of(visits.map(Literal), ranges(visits))),
    membership("detector", st.one_of(detectors.map(Literal), ranges(detectors))),
    membership("physical_filter", filter_names.map(Literal)),
    membership("band", band_names.map(Literal)),
    membership("visit.exposure_time", times.map(Literal)),
)


def combine(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    several = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(st.builds(Not, children), st.builds(And, several), st.builds(Or, several))


expressions = st.recursive(predicates, combine, max_leaves=6)


@settings(max_examples=50, deadline=None)
@given(expressions)
def test_sql_equals_python(repo: DirectButler, node: Node) -> None:
    where = str(node)
    assert parse_where(where) == node
    expected = {(r["visit"], r["detector"]) for r in all_rows() if evaluate(node, r) is True}
    got = {(c["visit"], c["detector"]) for c in repo.query_data_ids(["visit", "detector"], where=where)}
    assert got == expected, where


def test_fixture_matches_the_python_rows(repo: DirectButler) -> None:
    """The evaluator's rows are the repository's rows (so a cross-check failure is the compiler's fault)."""
    stored = {
        (dict(c)["visit"], dict(c)["detector"], dict(c)["physical_filter"], dict(c)["band"])
        for c in repo.query_data_ids(["visit", "detector"])
    }
    assert stored == {(r["visit"], r["detector"], r["physical_filter"], r["band"]) for r in all_rows()}
    times = {r.get("id"): r.get("exposure_time") for r in repo.query_dimension_records("visit")}
    assert times == {r["visit"]: r["visit.exposure_time"] for r in all_rows() if r["detector"] == 0}


def test_three_valued_logic_examples(repo: DirectButler) -> None:
    """NULL exposure times (every 7th visit from 2) satisfy neither a comparison nor its negation."""
    nulls = {v for v in range(N_VISITS) if EXPOSURE_TIMES[v % len(EXPOSURE_TIMES)] is None}
    everything = set(range(N_VISITS))

    def found(where: str) -> set[Any]:
        return {c["visit"] for c in repo.query_data_ids(["visit"], where=where)}

    assert found("visit.exposure_time >= 0") == everything - nulls
    assert found("NOT visit.exposure_time >= 0") == set()
    assert found("visit.exposure_time NOT IN (15, 30)") == {
        v for v in everything - nulls if EXPOSURE_TIMES[v % len(EXPOSURE_TIMES)] not in (15.0, 30.0)
    }
    assert found("visit.exposure_time > 100 OR visit < 3") == {0, 1, 2}
