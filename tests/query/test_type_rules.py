"""Issue 17 items 6 and 7: `where` inputs that escaped as raw errors, or answered differently on SQLite and
PostgreSQL, are now our `QuerySyntaxError` before any SQL runs, or one answer on both back-ends.

The repository is `populate_sample`'s: instrument Cam, visits 0-19 one minute apart from 2025-01-01T12:00 UTC
(odd visits through Cam-r, even through Cam-g), detectors 0-9.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from skybutler.butler import Butler
from skybutler.errors import QuerySyntaxError
from skybutler.query import parse_where
from skybutler.query._expressions import MAX_BIND_VALUES
from skybutler.query._parser import MAX_DEPTH

ALL = list(range(20))


def visits(butler: Butler, where: str, bind: dict[str, Any] | None = None) -> list[int]:
    return sorted(int(c["visit"]) for c in butler.query_data_ids(["visit"], where=where, bind=bind))


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("visit.timespan OVERLAPS T'2300-01-01'", []),  # beyond int64 ns: OverflowError on SQLite
        ("visit.timespan OVERLAPS T'1500-01-01'", []),
        ("visit.timespan OVERLAPS (T'2025-01-01T12:18:10', T'2300-01-01')", [18, 19]),
        ("visit.timespan OVERLAPS (T'1500-01-01', T'2025-01-01T12:01:10')", [0, 1]),
        ("visit.timespan OVERLAPS 9223372036854775807", []),  # the largest instant: its end overflowed
        ("day_obs.timespan OVERLAPS T'2300-01-01' AND visit < 2", []),
    ],
)
def test_times_far_in_the_future_or_past_are_answered_alike(butler: Butler, where: str, expected: list[int]) -> None:
    assert visits(butler, where) == expected


def test_an_expression_too_deep_for_sqlite_is_refused_on_every_back_end(butler: Butler) -> None:
    fits = " AND ".join(["visit < 5"] * 390)  # 389 operators over comparisons 3 deep
    assert visits(butler, fits) == [0, 1, 2, 3, 4]
    for n in (1000, 5000):
        with pytest.raises(QuerySyntaxError, match=rf"too large: it nests \d+ operations deep, at most {MAX_DEPTH}"):
            butler.query_data_ids(["visit"], where=" AND ".join(["visit = 1"] * n)).count()
    with pytest.raises(QuerySyntaxError, match="too large"):
        parse_where(" OR ".join(["visit = 1"] * 500))
    with pytest.raises(QuerySyntaxError, match="too large"):
        parse_where("visit IN (" + ", ".join(map(str, range(500))) + ")")
    assert parse_where("visit IN (0..100000)") is not None  # a range is one item


@pytest.mark.parametrize(
    ("where", "bind", "message"),
    [
        ("physical_filter IN (:x, :y)", {"x": b"r", "y": "Cam-r"}, r":x is b'r' \(bytes\)"),
        ("visit = :v", {"v": None}, r":v is None .*NULL equals nothing"),
        ("visit IN (:v)", {"v": [1, None]}, r":v is None"),
        ("visit % 2.5 = 1", None, r"% needs integers; 2.5 is a number"),
        ("visit.exposure_time % 2 = 1", None, r"% needs integers; visit.exposure_time is a number"),
        ("-band = 'r'", None, r"Unary minus needs a number; band is a string"),
        ("visit = T'2025-01-01'", None, r"T'2025-01-01' is a time; use it with OVERLAPS"),
        ("T'2025-01-01' + 1 > 0", None, r"Arithmetic needs numbers; T'2025-01-01' is a time"),
        ("exposure.can_see_sky = 1", None, r"1 is an integer; exposure.can_see_sky is a boolean"),
        ("visit = :t", {"t": __import__("datetime").datetime(2025, 1, 1)}, r":t is a time"),
    ],
)
def test_ill_typed_inputs_are_syntax_errors_on_every_back_end(
    butler: Butler, where: str, bind: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(QuerySyntaxError, match=message):
        butler.query_data_ids(["visit"], where=where, bind=bind).count()


@pytest.mark.parametrize(
    ("where", "bind", "expected"),
    [
        ("visit / 3 * 3 = visit", None, ALL),  # true division as floats: PostgreSQL divided as NUMERIC
        ("visit / 2 = 1.5", None, [3]),
        ("visit / 0 = 1 OR visit = 1", None, [1]),  # a zero divisor matches nothing
        ("-visit % 3 = -1", None, [1, 4, 7, 10, 13, 16, 19]),  # the sign of the dividend on both
        ("visit % -3 = 1", None, [1, 4, 7, 10, 13, 16, 19]),
        ("visit IN (:v)", {"v": [1.5, 3, 4.0]}, [3, 4]),  # a float among integers is not cast to BIGINT
        ("visit = 2.0 OR visit < 1.5", None, [0, 1, 2]),
        ("physical_filter > 'Cam-G'", None, ALL),  # code point order, whatever PostgreSQL's locale
        ("physical_filter < 'Cam-h' AND physical_filter >= 'Cam-g'", None, ALL[::2]),
    ],
)
def test_accepted_expressions_answer_alike_on_every_back_end(
    butler: Butler, where: str, bind: dict[str, Any] | None, expected: list[int]
) -> None:
    assert visits(butler, where, bind) == expected


def test_endless_and_huge_binds_are_refused_without_being_read(butler: Butler) -> None:
    taken = 0

    def endless() -> Iterator[int]:
        nonlocal taken
        for value in itertools.repeat(1):
            taken += 1
            yield value

    for value in (endless(), itertools.repeat(1), range(10**12), range(10**30), list(range(MAX_BIND_VALUES + 1))):
        with pytest.raises(QuerySyntaxError, match=rf":x holds too many values.*{MAX_BIND_VALUES} in all"):
            butler.query_data_ids(["visit"], where="visit IN (:x)", bind={"x": value})
    assert taken == MAX_BIND_VALUES + 1
    assert visits(butler, "visit IN (:x)", {"x": range(MAX_BIND_VALUES)}) == ALL  # the largest allowed
    half = list(range(MAX_BIND_VALUES // 2 + 1))
    with pytest.raises(QuerySyntaxError, match="too many values"):  # the limit is for all binds together
        butler.query_data_ids(["visit"], where="visit IN (:a) OR visit IN (:b)", bind={"a": half, "b": half})


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("visit IN (-9223372036854775808..9223372036854775807)", ALL),  # column - start overflowed on PostgreSQL
        ("visit IN (-9223372036854775808..9223372036854775807:2)", ALL[::2]),
        ("visit IN (-9223372036854775807..9223372036854775807:3)", [v for v in ALL if v % 3 == 2]),
        ("visit NOT IN (-100001..100000:7)", [v for v in ALL if (v + 100001) % 7]),
    ],
)
def test_huge_ranges_answer_alike_on_every_back_end(butler: Butler, where: str, expected: list[int]) -> None:
    assert visits(butler, where) == expected


@pytest.mark.parametrize(
    ("where", "bind"),
    [("visit.exposure_time < 1e400", None), ("visit.exposure_time < :x", {"x": float("nan")}),
     ("visit IN (:x)", {"x": [1, float("inf")]})],
)  # fmt: skip
def test_non_finite_numbers_are_refused(butler: Butler, where: str, bind: dict[str, Any] | None) -> None:
    with pytest.raises(QuerySyntaxError, match="not a finite number"):
        butler.query_data_ids(["visit"], where=where, bind=bind).count()


def test_a_literal_compared_with_a_range_beyond_32_bits_works(butler: Butler) -> None:
    """Found by the fuzzer: PostgreSQL cast the range's bounds to the INTEGER of a small literal."""
    assert visits(butler, "0 IN (-9223372036854775808..9223372036854775807)") == ALL
    assert visits(butler, "3000000000 IN (:x)", {"x": [3000000000]}) == ALL


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("visit + 9223372036854775807 > 0", ALL),  # "bigint out of range" on PostgreSQL, REAL on SQLite
        ("visit * 9223372036854775807 > 9223372036854775806", ALL[1:]),
        ("visit - 9223372036854775807 - 2 < 0", ALL),
        ("-(visit - 9223372036854775807 - 1) > 0", ALL),
        ("(visit - 9223372036854775807 - 1) % -1 = 0", ALL),
    ],
)
def test_integer_arithmetic_beyond_64_bits_answers_alike(butler: Butler, where: str, expected: list[int]) -> None:
    assert visits(butler, where) == expected
