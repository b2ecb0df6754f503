"""Query semantics on the realistic repository of ``conftest.py``, with the same assertions on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from tests.query.conftest import N_VISITS, Sky, cam_filter, exposure_time, found, keys

from skybutler.butler import DirectButler
from skybutler.errors import CollectionError, DataIdError, DatasetTypeError, QuerySyntaxError

# -- query_data_ids: record fields, timespans, partial data IDs, dataset constraints ---------------------------------


def test_where_on_record_fields(sky: Sky) -> None:
    b = sky.butler
    long_cam = {("Cam", v) for v in range(N_VISITS) if (exposure_time(v) or 0) > 40}
    got = b.query_data_ids(["visit"], where="visit.exposure_time > 40 AND instrument = 'Cam'")
    assert keys(got, "instrument", "visit") == long_cam
    # A record field needs no instrument: it is not a per-instrument value, so both instruments answer.
    both = keys(b.query_data_ids(["visit"], where="visit.exposure_time > 40"), "instrument", "visit")
    assert both == long_cam | {("Cam2", v) for v in range(10)}
    # NULL exposure times match neither a comparison nor its negation (SQL three-valued logic).
    nulls = {("Cam", v) for v in (24, 49, 74, 99)}
    cam_all = {("Cam", v) for v in range(N_VISITS)}
    positive = keys(
        b.query_data_ids(["visit"], instrument="Cam", where="visit.exposure_time > 0"), "instrument", "visit"
    )
    negated = b.query_data_ids(["visit"], instrument="Cam", where="NOT visit.exposure_time > 0")
    assert positive == cam_all - nulls
    assert list(negated) == []
    purposes = b.query_data_ids(["detector"], where="detector.purpose != 'SCIENCE'")
    assert keys(purposes, "instrument", "detector") == {("Cam", 8), ("Cam", 9)}
    science = b.query_data_ids(["detector"], where="detector.purpose = 'SCIENCE'")
    assert science.count() == 12  # 8 of Cam, 4 of Cam2
    # Implied dimensions come from the records: band through visit → physical_filter → band.
    i_band = b.query_data_ids(["visit"], where="band = 'i'")
    assert keys(i_band, "visit") == {v for v in range(20, N_VISITS) if v % 3 == 2}
    assert {dict(c)["physical_filter"] for c in i_band} == {"Cam-i"}
    records = b.query_dimension_records("visit", where="band = 'r' AND instrument = 'Cam2'")
    assert sorted(r.get("id") for r in records) == [0, 1, 2, 3, 4]
    detectors = b.query_dimension_records("detector", where="detector.purpose IN ('WAVEFRONT', 'GUIDER')")
    assert [r.get("full_name") for r in detectors] == ["S08", "S09"]


def test_timespans_overlaps(sky: Sky) -> None:
    b = sky.butler
    window = "visit.timespan OVERLAPS (T'2025-01-01T12:10:00', T'2025-01-01T12:20:00')"
    got = b.query_data_ids(["visit"], where=window)
    assert keys(got, "instrument", "visit") == {("Cam", v) for v in range(10, 20)}  # half-open: visit 20 is out
    # A single time: UTC by default, TAI when it says so (12:05:47 TAI is 12:05:10 UTC).
    for when in ("T'2025-01-01T12:05:10'", "T'2025-01-01T12:05:47 TAI'", "T'2025-01-01T13:05:10+01:00'"):
        exposures = b.query_data_ids(["exposure"], where=f"exposure.timespan OVERLAPS {when}")
        assert keys(exposures, "instrument", "exposure") == {("Cam", 5)}, when
    # 12:04:33 UTC falls between exposures 4 (ends 12:04:30) and 5.
    assert list(b.query_data_ids(["exposure"], where="exposure.timespan OVERLAPS T'2025-01-01T12:04:33'")) == []
    # Times through bind parameters: a datetime (UTC), or a pair of them.
    moment = datetime.datetime(2025, 1, 1, 12, 5, 10)
    at = b.query_data_ids(["exposure"], where="exposure.timespan OVERLAPS :t", bind={"t": moment})
    assert keys(at, "exposure") == {5}
    span = {"a": moment, "b": moment + datetime.timedelta(minutes=2)}
    assert keys(b.query_data_ids(["visit"], where="visit.timespan OVERLAPS (:a, :b)", bind=span), "visit") == {5, 6, 7}
    # Timespan against timespan: the day_obs of Cam2 covers its own visits only.
    day2 = b.query_data_ids(["visit"], where="visit.timespan OVERLAPS day_obs.timespan AND day_obs = 20250102",
                            instrument="Cam2")  # fmt: skip
    assert keys(day2, "instrument", "visit") == {("Cam2", v) for v in range(10)}


def test_partial_data_ids(sky: Sky) -> None:
    b = sky.butler
    one_visit = b.query_data_ids(["visit", "detector"], data_id={"instrument": "Cam", "visit": 5})
    assert keys(one_visit, "instrument", "visit", "detector") == {("Cam", 5, d) for d in range(10)}
    one_detector = b.query_data_ids(["visit", "detector"], instrument="Cam2", detector=1)
    assert keys(one_detector, "instrument", "visit", "detector") == {("Cam2", v, 1) for v in range(10)}
    combined = b.query_data_ids(["visit", "detector"], data_id={"instrument": "Cam"}, detector=3, where="visit < 4")
    assert keys(combined, "visit", "detector") == {(v, 3) for v in range(4)}
    by_filter = b.query_data_ids(["visit"], instrument="Cam", physical_filter="Cam-i")
    assert keys(by_filter, "visit") == {v for v in range(N_VISITS) if cam_filter(v) == "Cam-i"}
    # Full data IDs carry the implied values; expanded() adds the records.
    (coord,) = b.query_data_ids(["visit"], instrument="Cam", visit=3)
    assert dict(coord) == {"instrument": "Cam", "visit": 3, "band": "r", "physical_filter": "Cam-r",
                           "day_obs": 20250101}  # fmt: skip
    (expanded,) = b.query_data_ids(["visit"], instrument="Cam", visit=3).expanded()
    assert dict(expanded) == dict(coord)


def test_datasets_constraint(sky: Sky) -> None:
    b = sky.butler
    with_src = b.query_data_ids(["visit", "detector"], datasets="src", collections="proc")
    assert keys(with_src, "visit", "detector") == {(v, d) for v in range(15) for d in range(10)}
    both = b.query_data_ids(["visit"], datasets=["src", "calexp"], collections="proc", where="detector = 3",
                            instrument="Cam")  # fmt: skip
    assert keys(both, "visit") == set(range(15))
    cam2 = b.query_data_ids(["visit", "detector"], datasets="calexp", collections="everything", instrument="Cam2")
    assert cam2.count() == 40
    assert not b.query_data_ids(["visit"], datasets="src", collections="cam2/run").any()


# -- query_datasets: find-first, globs, order, limit, binds ---------------------------------------------------------


def test_find_first_through_a_chain(sky: Sky) -> None:
    b = sky.butler
    refs = list(b.query_datasets("calexp", collections="proc", instrument="Cam", where="detector = 1"))
    assert [(v, run) for _, v, _, run in found(refs)] == [(v, "proc/v2" if v < 10 else "proc/v1") for v in range(30)]
    ids = {r.id for r in sky.v1_calexps + sky.v2_calexps}
    assert {r.id for r in refs} <= ids
    # The order of the search path decides: proc/v1 first hides every proc/v2 dataset.
    reverse = b.query_datasets("calexp", collections=["proc/v1", "proc/v2"], instrument="Cam", where="detector = 1")
    assert {run for *_, run in found(reverse)} == {"proc/v1"}
    # A TAGGED collection first: visit 5 from the tag (a proc/v1 dataset), the rest as in the chain.
    tagged = found(b.query_datasets("calexp", collections=["best", "proc"], instrument="Cam", where="detector = 1"))
    assert tagged[4:7] == [("calexp", 4, 1, "proc/v2"), ("calexp", 5, 1, "proc/v1"), ("calexp", 6, 1, "proc/v2")]
    # find_first=False: every dataset along the path.
    every = found(b.query_datasets("calexp", collections="proc", instrument="Cam", where="detector = 1",
                                   find_first=False))  # fmt: skip
    assert len(every) == 40
    assert sorted(every) == sorted([("calexp", v, 1, "proc/v1") for v in range(30)]
                                   + [("calexp", v, 1, "proc/v2") for v in range(10)])  # fmt: skip
    assert b.query_datasets("calexp", collections="proc").count() == 300 + 0  # Cam only: Cam2 is in cam2/run
    assert b.query_datasets("calexp", collections="proc", find_first=False).count() == 400
    assert b.query_datasets("calexp", collections="everything").count() == 340


def test_calibration_collections_with_at(sky: Sky) -> None:
    b = sky.butler
    before = found(b.query_datasets("bias", collections="calib", at="2025-01-01T12:10:00", instrument="Cam"))
    assert before == [("bias", None, d, "calib/run1") for d in range(10)]
    after = b.query_datasets("bias", collections="everything", at="2025-01-01T12:40:00", instrument="Cam",
                             where="detector < 3")  # fmt: skip
    assert found(after) == [("bias", None, d, "calib/run2") for d in range(3)]
    assert {r.id for r in after} <= {r.id for r in sky.bias2}
    outside = b.query_datasets("bias", collections="calib", at="2025-01-05T00:00:00", instrument="Cam")
    assert list(outside) == []


def test_globs_and_star(sky: Sky) -> None:
    b = sky.butler
    cal = b.query_datasets("cal*", collections="everything", instrument="Cam", visit=5, detector=2)
    assert found(cal) == [("calexp", 5, 2, "proc/v1")]  # from the TAGGED collection, first in `everything`
    star = b.query_datasets("*", collections="everything", instrument="Cam", where="visit = 5 AND detector = 2")
    assert sorted(found(star)) == [("calexp", 5, 2, "proc/v1"), ("src", 5, 2, "proc/v1")]
    # Types whose dimensions do not hold what the constraints name are left out: summary has no detector.
    visit_only = b.query_datasets("*", collections="proc", instrument="Cam", where="visit = 20")
    assert sorted(t for t, *_ in found(visit_only)) == ["calexp"] * 10 + ["summary"]
    assert sorted(t for t, *_ in found(b.query_datasets(["s*"], collections="proc", instrument="Cam", visit=3))) == [
        "src"
    ] * 10 + ["summary"]


def test_order_by_and_limit(sky: Sky) -> None:
    b = sky.butler
    last = b.query_data_ids(["visit"], instrument="Cam", order_by=["-visit"], limit=3)
    assert [dict(c)["visit"] for c in last] == [99, 98, 97]
    by_time = list(b.query_data_ids(["visit"], instrument="Cam", where="visit < 8",
                                    order_by=["-visit.exposure_time", "visit"]))  # fmt: skip
    assert [dict(c)["visit"] for c in by_time] == [3, 7, 2, 6, 1, 5, 0, 4]
    by_start = b.query_data_ids(["visit"], instrument="Cam", order_by=["-visit.timespan"], limit=2)
    assert [dict(c)["visit"] for c in by_start] == [99, 98]
    for find_first in (True, False):  # order_by is honoured with and without find-first
        refs = b.query_datasets("calexp", collections="proc", instrument="Cam", where="detector = 0",
                                order_by=["-visit"], limit=5, find_first=find_first)  # fmt: skip
        assert [v for _, v, _, _ in found(refs)] == [29, 28, 27, 26, 25], find_first
    oldest_first = b.query_datasets("calexp", collections="proc", instrument="Cam", where="visit IN (8..11)",
                                    order_by=["-visit", "-detector"], limit=3)  # fmt: skip
    assert [(v, d, run) for _, v, d, run in found(oldest_first)] == [(11, 9, "proc/v1"), (11, 8, "proc/v1"),
                                                                      (11, 7, "proc/v1")]  # fmt: skip
    # limit is for the whole result, also when several dataset types answer.
    several = b.query_datasets(["calexp", "src", "summary"], collections="proc", instrument="Cam", limit=12)
    assert len(list(several)) == 12
    assert several.count() == 12


def test_bind_parameters(sky: Sky) -> None:
    b = sky.butler
    got = b.query_data_ids(["visit", "detector"], instrument="Cam", where="visit IN (:vs) AND detector = :d",
                           bind={"vs": [1, 2, 3], "d": 4})  # fmt: skip
    assert keys(got, "visit", "detector") == {(1, 4), (2, 4), (3, 4)}
    for many in ((1, 2), {1, 2}, frozenset({1, 2})):
        assert keys(b.query_data_ids(["visit"], instrument="Cam", where="visit IN (:vs)", bind={"vs": many}),
                    "visit") == {1, 2}  # fmt: skip
    mixed = b.query_data_ids(["visit"], instrument="Cam", where="visit IN (0, :vs, 90..92)", bind={"vs": 50})
    assert keys(mixed, "visit") == {0, 50, 90, 91, 92}
    named = b.query_data_ids(["visit"], where="instrument = :i AND physical_filter = :f AND visit.exposure_time >= :t",
                             bind={"i": "Cam2", "f": "Cam2-z", "t": 99.5})  # fmt: skip
    assert keys(named, "instrument", "visit") == {("Cam2", v) for v in range(5, 10)}
    refs = b.query_datasets("calexp", collections="proc", where="instrument = :i AND visit = :v AND detector IN (:ds)",
                            bind={"i": "Cam", "v": 12, "ds": [0, 9]})  # fmt: skip
    assert found(refs) == [("calexp", 12, 0, "proc/v1"), ("calexp", 12, 9, "proc/v1")]
    with pytest.raises(QuerySyntaxError, match=r"No value for bind parameter :missing \(bind= gives: vs\)"):
        b.query_data_ids(["visit"], instrument="Cam", where="visit = :missing", bind={"vs": 1})
    with pytest.raises(QuerySyntaxError, match="holds several values; use it inside IN"):
        b.query_data_ids(["visit"], instrument="Cam", where="visit = :vs", bind={"vs": [1, 2]})


def test_arithmetic(sky: Sky) -> None:
    b = sky.butler

    def visits(where: str) -> set[int]:
        return keys(b.query_data_ids(["visit"], instrument="Cam", where=where), "visit")

    assert visits("visit * 2 + 1 = 7") == {3}
    assert visits("visit % 30 = 3") == {3, 33, 63, 93}
    assert visits("visit / 4 = 2.5") == {10}  # true division on both back-ends
    assert visits("-visit > -3") == {0, 1, 2}
    assert visits("visit.exposure_time * 2 > 100") == {v for v in range(N_VISITS) if (exposure_time(v) or 0) > 50}
    assert visits("visit / 0 = 1") == set()  # division by zero matches nothing (PostgreSQL would raise)
    assert visits("visit % 0 = 1") == set()


def test_string_literals_are_values(sky: Sky) -> None:
    b = sky.butler
    assert keys(b.query_data_ids(["detector"], where="detector.full_name = 'C2-3'"), "instrument", "detector") == {
        ("Cam2", 3)
    }
    for text in (r"'it\'s'", r"'C:\data'", "'λ'", "''", r"'\x'", "'a\nb'"):
        assert list(b.query_data_ids(["detector"], where=f"detector.full_name = {text}")) == [], text


# -- governors ---------------------------------------------------------------------------------------------------


def test_governor_inferred_with_one_instrument(butler: DirectButler) -> None:
    # The plain `butler` repository has one instrument: visit numbers are unambiguous without it.
    got = butler.query_data_ids(["visit"], where="visit > 5")
    assert keys(got, "instrument", "visit") == {("Cam", v) for v in range(6, 20)}
    assert butler.query_data_ids(["visit", "detector"], where="visit IN (1..3) AND detector < 2").count() == 6
    assert len(butler.query_dimension_records("detector", where="detector >= 8")) == 2


def test_governor_ambiguous_with_two_instruments(sky: Sky) -> None:
    b = sky.butler
    for call in (
        lambda: b.query_data_ids(["visit"], where="visit > 5"),
        lambda: b.query_datasets("calexp", collections="proc", where="detector = 1"),
        lambda: b.query_dimension_records("exposure", where="exposure IN (1, 2)"),
    ):
        with pytest.raises(DataIdError) as info:
            call()
        message = str(info.value)
        assert all(part in message for part in ("'Cam'", "'Cam2'", "instrument=")), message
    # Naming it anywhere settles it: in the expression, in the data ID, or as a keyword.
    assert b.query_data_ids(["visit"], where="instrument = 'Cam2' AND visit > 5").count() == 4
    assert b.query_data_ids(["visit"], where="visit > 5", data_id={"instrument": "Cam2"}).count() == 4
    assert b.query_data_ids(["visit"], where="visit > 5", instrument="Cam").count() == 94


# -- results: empty, count, any, explanations ------------------------------------------------------------------------


def test_empty_results_are_empty(sky: Sky) -> None:
    b = sky.butler
    nothing = b.query_data_ids(["visit"], instrument="Cam", where="visit > 1000")
    assert (list(nothing), nothing.count(), nothing.any()) == ([], 0, False)
    no_refs = b.query_datasets("src", collections="cam2/run")
    assert (list(no_refs), no_refs.count(), no_refs.any()) == ([], 0, False)
    assert b.query_dimension_records("visit", instrument="Cam2", where="visit.exposure_time < 0") == []
    something = b.query_data_ids(["visit"], instrument="Cam", where="visit < 3")
    assert (something.any(), something.count(), something.explain_no_results()) == (True, 3, [])


def test_explain_no_results(sky: Sky) -> None:
    b = sky.butler
    assert b.query_data_ids(["visit"], instrument="Cam", visit=500).explain_no_results() == [
        "No visit record has the value 500 for {'instrument': 'Cam'}."
    ]
    assert b.query_data_ids(["visit"], instrument="Nope").explain_no_results() == [
        "No instrument record has the value 'Nope'."
    ]
    filtered = b.query_data_ids(["visit"], instrument="Cam", where="visit.exposure_time > 1000")
    assert filtered.explain_no_results() == ["No rows match the data ID constraints and the where expression."]
    unmatched = b.query_datasets("nothing*", collections="proc").explain_no_results()
    assert "No dataset type matches 'nothing*'." in unmatched
    left_out = b.query_datasets("*", collections="calib", instrument="Cam", where="visit = 5").explain_no_results()
    assert any("'bias' has dimensions" in r and "['visit']; it was left out" in r for r in left_out), left_out


def test_unknown_names_are_syntax_errors_with_hints(sky: Sky) -> None:
    b = sky.butler
    with pytest.raises(QuerySyntaxError, match=r"Unknown dimension 'vist'; did you mean 'visit'\?") as info:
        b.query_data_ids(["visit"], instrument="Cam", where="detector = 1 AND vist = 5")
    assert str(info.value).endswith("\n  detector = 1 AND vist = 5\n                   ^")
    with pytest.raises(QuerySyntaxError, match=r"'visit' has no field 'exposure_tim'; did you mean 'exposure_time'\?"):
        b.query_datasets("calexp", collections="proc", instrument="Cam", where="visit.exposure_tim > 5")
    with pytest.raises(QuerySyntaxError, match=r"'detector' has no field 'porpose'; did you mean 'purpose'\?"):
        b.query_dimension_records("detector", where="detector.porpose = 'SCIENCE'")
    with pytest.raises(QuerySyntaxError, match="Unknown dimension 'colour'"):
        b.query_data_ids(["visit"], instrument="Cam", order_by=["colour"])


@pytest.mark.parametrize(
    ("where", "bind", "message"),
    [
        ("visit = 'five'", {}, "visit is an integer; 'five' is a string"),
        ("physical_filter = 5", {}, "5 is an integer; physical_filter is a string"),
        ("physical_filter IN ('Cam-r', 5)", {}, "5 is an integer; physical_filter is a string"),
        ("visit.exposure_time = TRUE", {}, "visit.exposure_time is a number; TRUE is a boolean"),
        ("visit = :x", {"x": "five"}, "visit is an integer; :x is a string"),
        ("visit IN (:xs)", {"xs": [1, "two"]}, "visit is an integer; :xs is a string"),
        ("physical_filter = :f", {"f": 3}, ":f is an integer; physical_filter is a string"),
        ("visit.exposure_time IN (1..3)", {}, "A range needs integers; visit.exposure_time is a float"),
        ("band + 1 = 2", {}, "Arithmetic needs numbers; band is a string"),
        ("visit.timespan > T'2025-01-01'", {}, "visit.timespan is a timespan; use it with OVERLAPS"),
        ("visit = (1, 2)", {}, "(1, 2) is a timespan; use it with OVERLAPS"),
        ("visit OVERLAPS T'2025-01-01'", {}, "visit is not a timespan; use e.g. visit.timespan"),
        ("visit", {}, "visit is a value, not a condition"),
        ("visit + 1", {}, "(visit + 1) is a value, not a condition"),
        ("detector.timespan OVERLAPS T'2025-01-01'", {}, "'detector' records have no timespan"),
    ],
)
def test_type_mismatches_are_syntax_errors(sky: Sky, where: str, bind: dict[str, Any], message: str) -> None:
    # Refused before any SQL runs: PostgreSQL would otherwise fail with "operator does not exist".
    with pytest.raises(QuerySyntaxError) as info:
        sky.butler.query_data_ids(["visit"], instrument="Cam", where=where, bind=bind)
    assert message in str(info.value)


def test_implied_dimensions_constrain_datasets(sky: Sky) -> None:
    # band is two `implies` steps from visit (visit → physical_filter → band): the tables in between are joined,
    # so only datasets whose visit has that band are returned (not every dataset once per matching band).
    b = sky.butler
    expected = {v for v in range(30) if cam_filter(v) == "Cam-r"}
    r_band = b.query_datasets("calexp", collections="proc", instrument="Cam", where="band = 'r'")
    assert {v for _, v, _, _ in found(r_band)} == expected
    assert r_band.count() == 10 * len(expected)
    ids = b.query_data_ids(["visit", "detector"], datasets="calexp", collections="proc", where="band = 'r'",
                           instrument="Cam")  # fmt: skip
    assert ids.count() == 10 * len(expected)


def test_numpy_and_pandas_bind_values_match_like_python_ones(butler: DirectButler) -> None:
    # Notebook values: sqlite3 bound a NumPy int64 as its 8 bytes, so `visit = :v` silently matched nothing on
    # SQLite (and matched on PostgreSQL); an array inside IN matched nothing on SQLite and failed on PostgreSQL.
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    assert keys(butler.query_data_ids(["visit"], where="visit = :v", bind={"v": np.int64(3)}), "visit") == {3}
    many = butler.query_data_ids(["visit"], where="visit IN (:vs)", bind={"vs": np.array([3, 4])})
    assert keys(many, "visit") == {3, 4}
    assert keys(butler.query_data_ids(["visit"], where="visit IN (:vs)", bind={"vs": range(2)}), "visit") == {0, 1}
    f = butler.query_data_ids(["visit"], where="physical_filter = :f AND visit < 4", bind={"f": np.str_("Cam-r")})
    assert keys(f, "visit") == {1, 3}
    window = {"a": pd.Timestamp("2025-01-01T12:02:00"), "b": pd.Timestamp("2025-01-01T12:04:00")}
    overlapping = butler.query_data_ids(["visit"], where="visit.timespan OVERLAPS (:a, :b)", bind=window)
    assert keys(overlapping, "visit") == {2, 3}


@pytest.mark.parametrize(
    ("where", "bind", "message"),
    [
        ("visit.timespan OVERLAPS (:a, :b)", {"a": "2025-01-01T12:02", "b": "2025-01-01T12:04"}, ":a is not a time"),
        ("visit.timespan OVERLAPS :t", {"t": object()}, "Bind parameter :t is <object"),
        ("visit IN (:vs)", {"vs": [1, object()]}, "Bind parameter :vs is <object"),
    ],
)
def test_bind_values_no_column_takes_are_syntax_errors(
    butler: DirectButler, where: str, bind: dict[str, Any], message: str
) -> None:
    # Before: a raw driver error on PostgreSQL ("operator does not exist: bigint < character varying", "cannot
    # adapt type"), and on SQLite an empty result or a raw sqlite3 error.
    with pytest.raises(QuerySyntaxError, match=r"give a number|use T'") as info:
        butler.query_data_ids(["visit"], where=where, bind=bind)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("where", "bind"),
    [
        ("visit = 99999999999999999999", {}),
        ("visit IN (1..99999999999999999999)", {}),
        ("visit = :v", {"v": 2**64}),
        ("visit IN (:vs)", {"vs": [1, 2**63]}),
    ],
)
def test_integers_beyond_64_bits_are_syntax_errors(butler: DirectButler, where: str, bind: dict[str, Any]) -> None:
    # Before: OverflowError from sqlite3 (or from len() of the range), "bigint out of range" from PostgreSQL.
    with pytest.raises(QuerySyntaxError, match="outside the 64-bit integers the registry stores"):
        butler.query_data_ids(["visit"], where=where, bind=bind)
    assert butler.query_data_ids(["visit"], where=f"visit IN (0..{2**63 - 1}:{2**62})").count() == 1


def test_data_id_integers_beyond_64_bits_are_data_id_errors(butler: DirectButler) -> None:
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    with pytest.raises(DataIdError, match="outside the 64-bit integers"):
        butler.exists("meta", instrument="Cam", visit=2**63, detector=1)
    assert not butler.exists("meta", instrument="Cam", visit=2**63 - 1, detector=1)


def test_order_by_takes_one_term_as_a_string(butler: DirectButler) -> None:
    # Before: the string was iterated, so "-visit" sorted by '-', 'v', ... and failed with "Unknown dimension ''".
    assert [c["visit"] for c in butler.query_data_ids(["visit"], order_by="-visit", limit=3)] == [19, 18, 17]
    assert [r.get("id") for r in butler.query_dimension_records("visit", order_by="-visit", limit=2)] == [19, 18]


def test_record_queries_order_by_a_bare_field_of_the_element(butler: DirectButler) -> None:
    names = [r.get("name") for r in butler.query_dimension_records("visit")]
    by_name = [r.get("name") for r in butler.query_dimension_records("visit", order_by=["-name"])]
    assert by_name == sorted(names, reverse=True)
    assert by_name == [r.get("name") for r in butler.query_dimension_records("visit", order_by=["-visit.name"])]
    # a dimension's name keeps its meaning: physical_filter orders by the filter, not a field named so
    filters = [r.get("physical_filter") for r in butler.query_dimension_records("visit", order_by=["physical_filter"])]
    assert filters == sorted(filters)


def test_datasets_are_not_ordered_by_a_dimension_they_lack(butler: DirectButler) -> None:
    # it joined every exposure and returned each dataset once per exposure
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    butler.put({"a": 1}, "meta", instrument="Cam", visit=1, detector=1, run="r")
    with pytest.raises(QuerySyntaxError, match="no exposure dimension"):
        butler.query_datasets("meta", collections="r", order_by=["-exposure"])
    assert len(list(butler.query_datasets("meta", collections="r", order_by=["-visit.exposure_time", "band"]))) == 1


def test_order_by_errors_quote_the_term_not_the_where_expression(butler: DirectButler) -> None:
    # Before: the caret was drawn under the where expression, which has no mistake.
    with pytest.raises(QuerySyntaxError) as info:
        butler.query_data_ids(["visit"], where="visit > 3", order_by=["-visit.exposure_tme"])
    message = str(info.value)
    assert message.startswith("In order_by '-visit.exposure_tme': 'visit' has no field 'exposure_tme'")
    assert "visit > 3" not in message
    assert message.endswith("  visit.exposure_tme\n        ^")


def test_a_negative_limit_is_refused_on_every_back_end(butler: DirectButler) -> None:
    # Before: SQLite read LIMIT -1 as no limit, PostgreSQL failed with a raw DataError.
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    refused = r"limit= must be a whole number >= 0 \(or None"
    with pytest.raises(QuerySyntaxError, match=refused):
        butler.query_data_ids(["visit"], limit=-1)
    with pytest.raises(QuerySyntaxError, match=refused):
        butler.query_datasets("meta", limit=-1)
    with pytest.raises(QuerySyntaxError, match=refused):
        butler.query_dimension_records("visit", limit=-1)


def test_a_null_boolean_field_matches_neither_it_nor_its_negation(butler: DirectButler) -> None:
    # Before: `exposure.can_see_sky` compiled to IS TRUE, so `NOT exposure.can_see_sky` selected the exposure
    # whose value is unknown (NULL), unlike `NOT exposure.can_see_sky = TRUE` and the documented NULL rule.
    reg = butler.registry
    reg.insert_dimension_records("group", [{"instrument": "Cam", "name": "g1"}])
    reg.insert_dimension_records(
        "exposure",
        [
            {"instrument": "Cam", "id": i, "obs_id": f"e{i}", "physical_filter": "Cam-r", "group": "g1",
             "day_obs": 20250101, "can_see_sky": value}
            for i, value in enumerate([True, False, None])
        ],
    )  # fmt: skip

    def exposures(where: str) -> set[Any]:
        return keys(butler.query_data_ids(["exposure"], where=where), "exposure")

    assert exposures("exposure.can_see_sky") == {0}
    assert exposures("NOT exposure.can_see_sky") == {1}
    assert exposures("NOT exposure.can_see_sky") == exposures("NOT exposure.can_see_sky = TRUE")


def test_dataset_types_and_collections_of_other_kinds(butler: DirectButler) -> None:
    # Before: a DatasetType object (taken by get and put) and a regular expression (taken by the reference butler)
    # escaped as bare TypeErrors ("'DatasetType' object is not iterable", "'re.Pattern' object is not iterable").
    import re

    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    butler.put({}, "meta", instrument="Cam", visit=1, detector=2)
    meta = butler.get_dataset_type("meta")
    assert butler.query_datasets(meta).count() == butler.query_datasets([meta]).count() == 1
    assert butler.query_data_ids(["visit"], datasets=meta, collections="test/run").count() == 1
    with pytest.raises(DatasetTypeError, match="regular expressions are not supported"):
        butler.query_datasets(re.compile("me.*"))  # type: ignore[arg-type]
    with pytest.raises(DatasetTypeError, match=r"not re\.compile\('me\.\*'\)"):
        butler.query_dataset_types(re.compile("me.*"))  # type: ignore[arg-type]
    with pytest.raises(CollectionError, match="Collections are given by name or glob pattern"):
        butler.query_datasets("meta", collections=re.compile("test/.*"))  # type: ignore[arg-type]
    with pytest.raises(CollectionError, match=r"not 5 \(int\)"):
        butler.exists("meta", instrument="Cam", visit=1, detector=2, collections=["test/run", 5])  # type: ignore[list-item]
