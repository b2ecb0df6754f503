"""Time: UTC ↔ TAI nanoseconds with leap seconds, and the half-open Timespan."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skybutler.dimensions import TIMESPAN_MAX, TIMESPAN_MIN, Timespan, tai_ns_to_iso, to_tai_ns
from skybutler.dimensions._time import tai_ns_to_utc
from skybutler.errors import DataIdError

S = 1_000_000_000
UTC = datetime.UTC


# -- to_tai_ns ------------------------------------------------------------------------------------------------


def test_tai_is_37_seconds_ahead_of_utc_after_2017() -> None:
    assert to_tai_ns("2017-01-01T00:00:00") - to_tai_ns("2017-01-01T00:00:00 TAI") == 37 * S
    assert to_tai_ns("2025-06-01T12:00:00") - to_tai_ns("2025-06-01T12:00:00 TAI") == 37 * S


def test_tai_is_36_seconds_ahead_of_utc_in_2016() -> None:
    assert to_tai_ns("2016-06-01T00:00:00") - to_tai_ns("2016-06-01T00:00:00 TAI") == 36 * S
    assert to_tai_ns("2016-12-31T23:59:59") - to_tai_ns("2016-12-31T23:59:59 TAI") == 36 * S


def test_the_leap_second_at_the_end_of_2016_makes_that_utc_second_two_tai_seconds() -> None:
    assert to_tai_ns("2017-01-01T00:00:00") - to_tai_ns("2016-12-31T23:59:59") == 2 * S
    assert to_tai_ns("2017-01-01T00:00:01") - to_tai_ns("2017-01-01T00:00:00") == 1 * S


def test_tai_epoch_and_the_1972_offset() -> None:
    assert to_tai_ns("1970-01-01T00:00:00 TAI") == 0
    assert to_tai_ns("1972-01-01T00:00:00") - to_tai_ns("1972-01-01T00:00:00 TAI") == 10 * S
    # Before 1972 the 1972 offset is used.
    assert to_tai_ns("1970-01-01T00:00:00") == 10 * S


def test_naive_datetime_means_utc() -> None:
    naive = datetime.datetime(2020, 5, 17, 3, 4, 5, 123456)
    aware = naive.replace(tzinfo=UTC)
    elsewhere = aware.astimezone(datetime.timezone(datetime.timedelta(hours=-7)))
    expected = to_tai_ns("2020-05-17T03:04:05.123456")
    assert to_tai_ns(naive) == expected
    assert to_tai_ns(aware) == expected
    assert to_tai_ns(elsewhere) == expected
    assert to_tai_ns("2020-05-17T03:04:05.123456Z") == expected
    assert to_tai_ns("2020-05-17T03:04:05.123456+00:00") == expected
    assert to_tai_ns("2020-05-17T05:04:05.123456+02:00") == expected
    assert to_tai_ns("2020-05-17T03:04:05.123456 UTC") == expected


def test_tai_suffix_is_case_insensitive_and_skips_leap_seconds() -> None:
    expected = to_tai_ns(datetime.datetime(2020, 5, 17, tzinfo=UTC)) - 37 * S
    assert to_tai_ns("2020-05-17T00:00:00 TAI") == expected
    assert to_tai_ns("2020-05-17T00:00:00 tai") == expected
    assert to_tai_ns("  2020-05-17T00:00:00TAI ") == expected


def test_date_means_utc_midnight() -> None:
    assert to_tai_ns(datetime.date(2021, 3, 4)) == to_tai_ns("2021-03-04T00:00:00")


def test_int_is_already_tai_and_bool_is_refused() -> None:
    assert to_tai_ns(123_456_789) == 123_456_789
    with pytest.raises(DataIdError, match="boolean"):
        to_tai_ns(True)


@pytest.mark.parametrize("text", ["not a time", "", "2025-13-01T00:00:00", "2025-01-01T25:00:00 TAI", "TAI"])
def test_bad_strings_are_data_id_errors_quoting_the_text(text: str) -> None:
    with pytest.raises(DataIdError, match="Cannot parse the time") as info:
        to_tai_ns(text)
    assert repr(text) in str(info.value)
    assert "ISO 8601" in str(info.value)


@pytest.mark.parametrize("value", [1.5, object(), [2025, 1, 1], None])
def test_other_types_are_data_id_errors(value: object) -> None:
    with pytest.raises(DataIdError, match="Cannot interpret"):
        to_tai_ns(value)


@pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyWarning")
@pytest.mark.parametrize("scale", ["utc", "tai", "tt"])
def test_astropy_time_in_any_scale(scale: str) -> None:
    time_module = pytest.importorskip("astropy.time")
    moment = time_module.Time("2017-01-01T00:00:00", scale="utc")
    assert to_tai_ns(getattr(moment, scale)) == to_tai_ns("2017-01-01T00:00:00")
    in_tai = time_module.Time("2017-01-01T00:00:00", scale="tai")
    assert to_tai_ns(in_tai) == to_tai_ns("2017-01-01T00:00:00 TAI")


def test_iso_formatting_in_both_scales() -> None:
    tai = to_tai_ns("2025-01-01T12:00:00 TAI") + 7
    assert tai_ns_to_iso(tai) == "2025-01-01T12:00:00.000000007"
    assert tai_ns_to_iso(tai, "utc") == "2025-01-01T11:59:23.000000007"
    assert tai_ns_to_utc(to_tai_ns("2025-01-01T12:00:00")) == datetime.datetime(2025, 1, 1, 12, tzinfo=UTC)


@settings(database=None)
@given(
    st.datetimes(
        min_value=datetime.datetime(1972, 1, 1),
        max_value=datetime.datetime(2200, 1, 1),
        timezones=st.just(UTC),
    )
)
def test_utc_datetime_round_trips_through_tai(moment: datetime.datetime) -> None:
    tai = to_tai_ns(moment)
    assert tai_ns_to_utc(tai) == moment
    assert to_tai_ns(tai_ns_to_iso(tai) + " TAI") == tai
    assert to_tai_ns(tai_ns_to_iso(tai, "utc")[:-3]) == tai


# -- Timespan -------------------------------------------------------------------------------------------------


def test_timespan_is_half_open() -> None:
    span = Timespan(10, 20)
    assert span.contains(10)
    assert span.contains(19)
    assert not span.contains(20)
    assert not span.contains(9)


def test_unbounded_sides() -> None:
    assert Timespan(None, 20).contains(-(10**18))
    assert not Timespan(None, 20).contains(20)
    assert Timespan(10, None).contains(10**18)
    assert not Timespan(10, None).contains(9)
    assert Timespan(None, None).contains(0)


def test_contains_accepts_any_time_form() -> None:
    day = Timespan.from_times("2025-01-01", "2025-01-02")
    assert day.contains("2025-01-01T12:00:00")
    assert day.contains(datetime.datetime(2025, 1, 1, 23, 59, 59))
    assert not day.contains("2025-01-02T00:00:00")
    assert day.contains("2025-01-02T00:00:00 TAI")  # 37 s before midnight UTC


def test_from_times_leaves_none_unbounded() -> None:
    assert Timespan.from_times(None, "2025-01-01") == Timespan(None, to_tai_ns("2025-01-01"))
    assert Timespan.from_times("2025-01-01", None) == Timespan(to_tai_ns("2025-01-01"), None)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (Timespan(0, 10), Timespan(5, 15), True),
        (Timespan(0, 10), Timespan(10, 20), False),  # adjacent: half-open ranges share no instant
        (Timespan(0, 10), Timespan(2, 3), True),
        (Timespan(0, 10), Timespan(20, 30), False),
        (Timespan(None, 10), Timespan(9, None), True),
        (Timespan(None, 10), Timespan(10, None), False),
        (Timespan(None, None), Timespan(5, 6), True),
        (Timespan(None, None), Timespan(None, None), True),
        (Timespan(5, 5), Timespan(0, 10), False),  # an empty range holds no instant
        (Timespan(5, 5), Timespan(None, None), False),
        (Timespan(5, 5), Timespan(5, 5), False),
    ],
)
def test_overlaps(a: Timespan, b: Timespan, expected: bool) -> None:
    assert a.overlaps(b) is expected
    assert b.overlaps(a) is expected


def test_the_constructor_converts_time_forms_like_from_times() -> None:
    """``Timespan("2025-01-01", ...)`` stored the strings as they were, and failed later (printing, comparing).

    The fields are typed as what they hold (TAI ns); typed code says `from_times`, notebooks may write either.
    """
    untyped: Any = Timespan
    given = untyped("2025-01-01", datetime.datetime(2025, 1, 2))
    assert given == Timespan.from_times("2025-01-01", "2025-01-02")
    assert (type(given.begin), type(given.end)) == (int, int)
    assert str(untyped("2025-01-01 TAI", None)) == "[2025-01-01T00:00:00.000000000, +∞) TAI"
    with pytest.raises(DataIdError, match="Cannot parse the time 'soon'"):
        untyped("soon", None)


def test_end_before_begin_is_refused() -> None:
    with pytest.raises(DataIdError, match="before its begin") as info:
        Timespan(20, 10)
    assert "swap them" in str(info.value)
    assert Timespan(10, 10).begin == 10  # empty is allowed


def test_end_before_begin_beyond_the_calendar_is_refused_with_its_value() -> None:
    # An end past datetime's years (a server's fuzzing sent -3.5e21) is named in ns, not an OverflowError.
    with pytest.raises(DataIdError, match=r"end \(-3500000000000000000000 ns TAI\) is before its begin"):
        Timespan(0, -3_500_000_000_000_000_000_000)


def test_db_form_uses_sentinels_for_unbounded_sides() -> None:
    assert Timespan(None, None).to_db() == (TIMESPAN_MIN, TIMESPAN_MAX)
    assert Timespan(1, None).to_db() == (1, TIMESPAN_MAX)
    assert Timespan(None, 2).to_db() == (TIMESPAN_MIN, 2)
    assert Timespan.from_db(TIMESPAN_MIN, TIMESPAN_MAX) == Timespan(None, None)
    assert Timespan.from_db(1, 2) == Timespan(1, 2)


def test_timespans_are_frozen_and_hashable() -> None:
    span = Timespan(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        span.begin = 0  # type: ignore[misc]
    assert len({Timespan(1, 2), Timespan(1, 2), Timespan(1, 3)}) == 2


def test_str_shows_infinities_and_tai() -> None:
    assert str(Timespan(None, None)) == "[-∞, +∞) TAI"
    assert str(Timespan(0, None)) == "[1970-01-01T00:00:00.000000000, +∞) TAI"


_bound = st.none() | st.integers(min_value=-50, max_value=50)


@st.composite
def timespans(draw: st.DrawFn) -> Timespan:
    begin, end = draw(_bound), draw(_bound)
    if begin is not None and end is not None and end < begin:
        begin, end = end, begin
    return Timespan(begin, end)


@settings(database=None)
@given(timespans(), timespans())
def test_overlaps_is_symmetric_and_means_a_shared_instant(a: Timespan, b: Timespan) -> None:
    assert a.overlaps(b) == b.overlaps(a)
    # With bounds in [-50, 50], any shared instant also shows in [-51, 51].
    shared = any(a.contains(t) and b.contains(t) for t in range(-51, 52))
    assert a.overlaps(b) == shared


@settings(database=None)
@given(timespans())
def test_db_form_round_trips(span: Timespan) -> None:
    begin, end = span.to_db()
    assert TIMESPAN_MIN <= begin <= end <= TIMESPAN_MAX
    assert Timespan.from_db(begin, end) == span


def test_db_form_refuses_bounds_at_or_beyond_the_sentinels() -> None:
    assert Timespan(TIMESPAN_MIN + 1, TIMESPAN_MAX - 1).to_db() == (TIMESPAN_MIN + 1, TIMESPAN_MAX - 1)
    for span in [Timespan(TIMESPAN_MAX, None), Timespan(None, TIMESPAN_MIN), Timespan(0, 2**63),
                 Timespan.from_times("2025-01-01", "2200-01-01")]:  # fmt: skip
        with pytest.raises(DataIdError, match="outside the times a timespan can hold"):
            span.to_db()


def test_the_leap_second_table_is_erfas_from_1972_on() -> None:
    # the table in dimensions/_time.py is kept by hand; erfa (astropy's) is the reference
    erfa = pytest.importorskip("erfa")
    from skybutler.dimensions._time import _LEAPS

    reference = [(f"{y:04d}-{m:02d}-01", float(off)) for y, m, off in erfa.leap_seconds.get() if y >= 1972]
    assert [(d, float(off)) for d, off in _LEAPS] == reference


@pytest.mark.parametrize(
    ("iso", "bound"),
    [
        ("1972-01-01T00:00:00", 0.0),
        ("1999-01-01T00:00:00", 0.0),
        ("2016-12-31T23:59:59", 0.0),
        ("2017-01-01T00:00:00", 0.0),
        ("2025-06-01T12:00:00", 0.0),
        # before 1972 the 1972 offset: as the module's docstring says
        ("1971-12-31T00:00:00", 2.0),
        ("1970-01-01T00:00:00", 2.0),
        ("1960-01-01T00:00:00", 9.1),
    ],
)
def test_utc_to_tai_agrees_with_astropy(iso: str, bound: float) -> None:
    import warnings

    time = pytest.importorskip("astropy.time")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy warns of "dubious year" for pre-1972 UTC
        utc = time.Time(iso, scale="utc")
        astropy_seconds = (utc.tai - time.Time("1970-01-01T00:00:00", scale="tai")).sec
    difference = abs(to_tai_ns(iso) / S - astropy_seconds)
    assert difference <= bound + 1e-6, difference
