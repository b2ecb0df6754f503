"""Bitemporal CALIBRATION collections (DESIGN invariant 4), on SQLite and PostgreSQL.

A scripted timeline of twelve transactions (certify, replace, split, decertify, re-certify) on two detectors is
checked against hand-written states: every (data ID, valid time, transaction time) question, at and next to
every boundary, must get the dataset the hand-written state says.  Then: the history rows (both axes), the
diff kinds with exact ranges, lookups whose valid time comes from an exposure or visit record, and bad input
(the specific error, and the history identical before and after).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from skybutler.butler import DirectButler
from skybutler.datasets import DatasetRef
from skybutler.dimensions import Timespan, to_tai_ns
from skybutler.dimensions._time import tai_ns_to_utc  # not re-exported; the inverse of to_tai_ns
from skybutler.errors import (
    CollectionError,
    ConflictError,
    DataIdError,
    DatasetNotFoundError,
    DatasetTypeError,
    PermissionDeniedError,
)

Label = str
Segment = tuple[int | None, int | None, Label]  # [begin, end) valid time (None: unbounded) -> dataset label


def _t(iso: str) -> int:
    return to_tai_ns(iso)


JAN1 = _t("2025-01-01")
FEB1 = _t("2025-02-01")
FEB15 = _t("2025-02-15")
MAR1 = _t("2025-03-01")
MAR15 = _t("2025-03-15")
APR1 = _t("2025-04-01")
MAY1 = _t("2025-05-01")
JUN1 = _t("2025-06-01")
JUN10 = _t("2025-06-10")
JUN20 = _t("2025-06-20")
JUL1 = _t("2025-07-01")
DEC1 = _t("2025-12-01")
BOUNDARIES = [JAN1, FEB1, FEB15, MAR1, MAR15, APR1, MAY1, JUN1, JUN10, JUN20, JUL1, DEC1]
#: Every valid time asked about: each boundary and the nanosecond before it, and far from all of them.
PROBES = [_t("1990-01-01"), *(b + d for b in BOUNDARIES for d in (-1, 0)), _t("2100-01-01")]
DETECTORS = (1, 2)


def det(d: int) -> dict[str, Any]:
    return {"instrument": "Cam", "detector": d}


# -- the script and, by hand, the current rows after each of its steps ----------------------------------------------
#  T1  certify A1 [Jan1, +inf)                       det 1
#  T2  certify A2 (-inf, +inf)                       det 2
#  T3  certify B1 [Mar1, Apr1) replace=True          det 1: splits A1
#  T4  decertify det 1 [Jun1, Jul1)                  det 1: a hole in A1
#  T5  certify C1 [Jun10, Jun20)                     det 1: fills part of the hole, no replace needed
#  T6  certify B2 [Feb1, May1) replace=True          det 2: splits A2
#  T7  decertify every data ID [Dec1, +inf)          both
#  T8  certify D1 [Feb15, Mar15) replace=True        det 1: trims A1 and B1 (two rows replaced at once)
#  T9  certify A1 [Dec1, +inf)                       det 1: an old dataset certified again
#  T10 decertify det 2 (-inf, Jan1)                  det 2
#  T11 certify C1 [Jun20, Jul1)                      det 1: adjacent to C1 and A1 (half-open: no overlap)
#  T12 certify B2 [Dec1, +inf)                       det 2
S1_DET1: list[Segment] = [(JAN1, None, "A1")]
S3_DET1: list[Segment] = [(JAN1, MAR1, "A1"), (MAR1, APR1, "B1"), (APR1, None, "A1")]
S4_DET1: list[Segment] = [(JAN1, MAR1, "A1"), (MAR1, APR1, "B1"), (APR1, JUN1, "A1"), (JUL1, None, "A1")]
S5_DET1: list[Segment] = [*S4_DET1, (JUN10, JUN20, "C1")]
S7_DET1: list[Segment] = [(JAN1, MAR1, "A1"), (MAR1, APR1, "B1"), (APR1, JUN1, "A1"), (JUN10, JUN20, "C1"),
                          (JUL1, DEC1, "A1")]  # fmt: skip
S8_DET1: list[Segment] = [(JAN1, FEB15, "A1"), (FEB15, MAR15, "D1"), (MAR15, APR1, "B1"), (APR1, JUN1, "A1"),
                          (JUN10, JUN20, "C1"), (JUL1, DEC1, "A1")]  # fmt: skip
S9_DET1: list[Segment] = [*S8_DET1, (DEC1, None, "A1")]
S11_DET1: list[Segment] = [*S9_DET1, (JUN20, JUL1, "C1")]
S2_DET2: list[Segment] = [(None, None, "A2")]
S6_DET2: list[Segment] = [(None, FEB1, "A2"), (FEB1, MAY1, "B2"), (MAY1, None, "A2")]
S7_DET2: list[Segment] = [(None, FEB1, "A2"), (FEB1, MAY1, "B2"), (MAY1, DEC1, "A2")]
S10_DET2: list[Segment] = [(JAN1, FEB1, "A2"), (FEB1, MAY1, "B2"), (MAY1, DEC1, "A2")]
S12_DET2: list[Segment] = [*S10_DET2, (DEC1, None, "B2")]
#: STATES[k][detector]: what is certified after step k (k = 0: before the first).
STATES: list[dict[int, list[Segment]]] = [
    {1: [], 2: []},
    {1: S1_DET1, 2: []},
    {1: S1_DET1, 2: S2_DET2},
    {1: S3_DET1, 2: S2_DET2},
    {1: S4_DET1, 2: S2_DET2},
    {1: S5_DET1, 2: S2_DET2},
    {1: S5_DET1, 2: S6_DET2},
    {1: S7_DET1, 2: S7_DET2},
    {1: S8_DET1, 2: S7_DET2},
    {1: S9_DET1, 2: S7_DET2},
    {1: S9_DET1, 2: S10_DET2},
    {1: S11_DET1, 2: S10_DET2},
    {1: S11_DET1, 2: S12_DET2},
]


def expected_label(state: dict[int, list[Segment]], detector: int, at: int) -> Label | None:
    hits = [
        label for begin, end, label in state[detector] if (begin is None or begin <= at) and (end is None or at < end)
    ]
    assert len(hits) <= 1, "the hand-written state overlaps"
    return hits[0] if hits else None


@dataclass
class Timeline:
    butler: DirectButler
    refs: dict[Label, DatasetRef]
    times: list[int] = field(default_factory=list)
    """times[k - 1] = transaction time of step k."""
    closed: list[int] = field(default_factory=list)
    """Rows closed by each decertify step, in order."""

    def label_of(self, dataset_id: uuid.UUID | None) -> Label | None:
        if dataset_id is None:
            return None
        return next(label for label, ref in self.refs.items() if ref.id == dataset_id)

    def tx(self, k: int) -> int:
        """Tk of the script."""
        return self.times[k - 1]


def latest_transaction(butler: DirectButler, collection: str = "calib") -> int:
    """A decertify returns a row count; its transaction time is the newest time on either axis of the history."""
    rows = butler.collections.history(collection, "bias")
    return max(t for r in rows for t in (r.recorded.begin, r.recorded.end) if t is not None)


@pytest.fixture
def cb(butler: DirectButler) -> DirectButler:
    butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    butler.collections.register("calib", "CALIBRATION", doc="the timeline")
    return butler


def put_bias(butler: DirectButler, label: Label, detector: int) -> DatasetRef:
    return butler.put({"label": label}, "bias", det(detector), run=f"bias/{label}")


def run_timeline(butler: DirectButler) -> Timeline:
    refs = {label: put_bias(butler, label, int(label[1])) for label in ("A1", "B1", "C1", "D1", "A2", "B2")}
    tl = Timeline(butler, refs)
    c = butler.collections

    def certify(label: Label, begin: int | None, end: int | None, replace: bool = False) -> None:
        tl.times.append(c.certify("calib", [refs[label]], (begin, end), replace=replace))

    def decertify(begin: int | None, end: int | None, detectors: list[int] | None) -> None:
        data_ids = None if detectors is None else [det(d) for d in detectors]
        tl.closed.append(c.decertify("calib", "bias", (begin, end), data_ids=data_ids))
        tl.times.append(latest_transaction(butler))

    certify("A1", JAN1, None)
    certify("A2", None, None)
    certify("B1", MAR1, APR1, replace=True)
    decertify(JUN1, JUL1, [1])
    certify("C1", JUN10, JUN20)
    certify("B2", FEB1, MAY1, replace=True)
    decertify(DEC1, None, None)
    certify("D1", FEB15, MAR15, replace=True)
    certify("A1", DEC1, None)
    decertify(None, JAN1, [2])
    certify("C1", JUN20, JUL1)
    certify("B2", DEC1, None)
    assert len(tl.times) == 12
    return tl


def lookup(tl: Timeline, detector: int, at: Any, as_of: Any) -> Label | None:
    ref = tl.butler.find_dataset("bias", det(detector), collections="calib", at=at, as_of=as_of)
    return None if ref is None else tl.label_of(ref.id)


# -- the timeline -------------------------------------------------------------------------------------------------
def test_transaction_times_increase_and_decertify_counts_closed_rows(cb: DirectButler) -> None:
    tl = run_timeline(cb)
    assert tl.times == sorted(set(tl.times))  # strictly increasing
    assert tl.closed == [1, 2, 1]  # A1 [Apr1, +inf); A1 [Jul1, +inf) and A2 [May1, +inf); A2 (-inf, Feb1)
    assert tl.tx(12) <= latest_transaction(cb)


def test_every_data_id_valid_time_and_transaction_time_answers_as_scripted(cb: DirectButler) -> None:
    tl = run_timeline(cb)
    # as_of -> the step whose state it must see: before T1, each Tk exactly, one ns before it, between steps, now
    as_ofs: list[tuple[int | None, int]] = [(tl.tx(1) - 1, 0), (None, 12)]
    for k in range(1, 13):
        as_ofs += [(tl.tx(k), k), (tl.tx(k) - 1, k - 1)]
        if k < 12:
            as_ofs.append(((tl.tx(k) + tl.tx(k + 1)) // 2, k))
    checked = 0
    for as_of, step in as_ofs:
        for detector in DETECTORS:
            for at in PROBES:
                want = expected_label(STATES[step], detector, at)
                assert lookup(tl, detector, at, as_of) == want, (detector, at, as_of, step)
                checked += 1
    assert checked == len(as_ofs) * len(DETECTORS) * len(PROBES) == 37 * 2 * 26
    # get/exists/get_uri answer the same as find_dataset (spot checks, files read)
    assert cb.get("bias", det(1), collections="calib", at=MAR1, as_of=tl.tx(2)) == {"label": "A1"}
    assert cb.get("bias", det(1), collections="calib", at=MAR1, as_of=tl.tx(3)) == {"label": "B1"}
    assert cb.get("bias", det(1), collections="calib", at=MAR1) == {"label": "D1"}
    assert cb.get_uri("bias", det(1), collections="calib", at=MAR1) == cb.get_uri(tl.refs["D1"])
    assert cb.get_deferred("bias", det(2), collections="calib", at=JAN1 - 1, as_of=tl.tx(9)).get() == {"label": "A2"}
    assert not cb.exists("bias", det(2), collections="calib", at=JAN1 - 1)
    assert cb.exists("bias", det(2), collections="calib", at=JAN1 - 1, as_of=tl.tx(9))
    with pytest.raises(DatasetNotFoundError):
        cb.get("bias", det(1), collections="calib", at=JUN1, as_of=tl.tx(5))


def test_time_forms_agree(cb: DirectButler) -> None:
    tl = run_timeline(cb)
    from astropy.time import Time

    mar10 = _t("2025-03-10")
    forms: list[Any] = [
        mar10,
        "2025-03-10",
        "2025-03-10T00:00:00Z",
        "2025-03-10T01:00:00+01:00",
        "2025-03-10T00:00:37 TAI",
        datetime.datetime(2025, 3, 10, tzinfo=datetime.UTC),
        datetime.datetime(2025, 3, 10),  # naive: UTC
        Time("2025-03-10T00:00:00", scale="utc"),
        Time("2025-03-10T00:00:37", scale="tai"),
    ]
    for at in forms:
        assert to_tai_ns(at) == mar10, at
        assert lookup(tl, 1, at, None) == "D1", at
        assert lookup(tl, 1, at, tl.tx(7)) == "B1", at
    # as_of as an aware datetime of a transaction time: datetimes carry microseconds, and certify's transaction
    # times come from the clock in whole microseconds, so the round trip lands on the same instant
    t3 = tl.tx(3)
    as_dt = tai_ns_to_utc(t3)
    assert to_tai_ns(as_dt) == t3 - t3 % 1000
    assert lookup(tl, 1, MAR1, as_dt) == ("B1" if t3 % 1000 == 0 else "A1")
    assert lookup(tl, 1, MAR1, Time(as_dt, scale="utc")) == lookup(tl, 1, MAR1, as_dt)


def test_history_rows_on_both_axes(cb: DirectButler) -> None:
    tl = run_timeline(cb)
    tx = tl.tx
    want: set[tuple[int, Label, Timespan, Timespan]] = {
        (1, "A1", Timespan(JAN1, None), Timespan(tx(1), tx(3))),  # closed by the replace at T3
        (1, "A1", Timespan(JAN1, MAR1), Timespan(tx(3), tx(8))),
        (1, "B1", Timespan(MAR1, APR1), Timespan(tx(3), tx(8))),
        (1, "A1", Timespan(APR1, None), Timespan(tx(3), tx(4))),  # closed by the decertify at T4
        (1, "A1", Timespan(APR1, JUN1), Timespan(tx(4), None)),
        (1, "A1", Timespan(JUL1, None), Timespan(tx(4), tx(7))),
        (1, "C1", Timespan(JUN10, JUN20), Timespan(tx(5), None)),
        (1, "A1", Timespan(JUL1, DEC1), Timespan(tx(7), None)),
        (1, "A1", Timespan(JAN1, FEB15), Timespan(tx(8), None)),
        (1, "D1", Timespan(FEB15, MAR15), Timespan(tx(8), None)),
        (1, "B1", Timespan(MAR15, APR1), Timespan(tx(8), None)),
        (1, "A1", Timespan(DEC1, None), Timespan(tx(9), None)),
        (1, "C1", Timespan(JUN20, JUL1), Timespan(tx(11), None)),
        (2, "A2", Timespan(None, None), Timespan(tx(2), tx(6))),
        (2, "A2", Timespan(None, FEB1), Timespan(tx(6), tx(10))),
        (2, "B2", Timespan(FEB1, MAY1), Timespan(tx(6), None)),
        (2, "A2", Timespan(MAY1, None), Timespan(tx(6), tx(7))),
        (2, "A2", Timespan(MAY1, DEC1), Timespan(tx(7), None)),
        (2, "A2", Timespan(JAN1, FEB1), Timespan(tx(10), None)),
        (2, "B2", Timespan(DEC1, None), Timespan(tx(12), None)),
    }
    rows = cb.collections.history("calib", "bias")
    got = [(int(str(r.data_id["detector"])), tl.label_of(r.dataset_id), r.valid, r.recorded) for r in rows]
    assert len(got) == len(want) == 20
    assert set(got) == want
    assert all(r.dataset_type == "bias" and r.data_id["instrument"] == "Cam" for r in rows)
    # ordered by data ID, then valid begin, then recorded begin
    keys = [(d, v.to_db()[0], rec.to_db()[0]) for d, _, v, rec in got]
    assert keys == sorted(keys)
    # closed rows have recorded.end set (to a transaction time of the script); current rows have None
    closed = [r for r in rows if r.recorded.end is not None]
    assert len(closed) == 8
    assert {r.recorded.end for r in closed} <= set(tl.times)
    assert all(r.recorded.begin in tl.times for r in rows)
    # no two current rows of a data ID overlap, and neither do two rows in force at any recorded time
    for moment in [*tl.times, None]:
        live = [r for r in rows if (r.recorded.end is None if moment is None else r.recorded.contains(moment))]
        for i, r1 in enumerate(live):
            for r2 in live[i + 1 :]:
                assert r1.data_id != r2.data_id or not r1.valid.overlaps(r2.valid), (moment, r1, r2)
    # one data ID only
    only2 = cb.collections.history("calib", "bias", det(2))
    assert {(2, tl.label_of(r.dataset_id), r.valid, r.recorded) for r in only2} == {w for w in want if w[0] == 2}


def test_diff_kinds_with_exact_ranges(cb: DirectButler) -> None:
    tl = run_timeline(cb)
    tx = tl.tx

    def diff(since: int, until: int | None) -> set[tuple[str, int, Timespan, Label | None, Label | None]]:
        return {
            (c.kind, int(str(c.data_id["detector"])), c.valid, tl.label_of(c.before), tl.label_of(c.after))
            for c in cb.collections.diff("calib", "bias", since, until)
        }

    assert diff(tx(1) - 1, tx(1)) == {("certified", 1, Timespan(JAN1, None), None, "A1")}
    assert diff(tx(2), tx(3)) == {("replaced", 1, Timespan(MAR1, APR1), "A1", "B1")}
    assert diff(tx(3), tx(4)) == {("decertified", 1, Timespan(JUN1, JUL1), "A1", None)}
    assert diff(tx(4), tx(5)) == {("certified", 1, Timespan(JUN10, JUN20), None, "C1")}
    assert diff(tx(6), tx(7)) == {
        ("decertified", 1, Timespan(DEC1, None), "A1", None),
        ("decertified", 2, Timespan(DEC1, None), "A2", None),
    }
    assert diff(tx(7), tx(8)) == {  # one certify replaced parts of two datasets
        ("replaced", 1, Timespan(FEB15, MAR1), "A1", "D1"),
        ("replaced", 1, Timespan(MAR1, MAR15), "B1", "D1"),
    }
    assert diff(tx(9), tx(10)) == {("decertified", 2, Timespan(None, JAN1), "A2", None)}
    # several kinds over several steps, net of what was undone in between
    assert diff(tx(2), tx(6)) == {
        ("replaced", 1, Timespan(MAR1, APR1), "A1", "B1"),
        ("decertified", 1, Timespan(JUN1, JUN10), "A1", None),
        ("replaced", 1, Timespan(JUN10, JUN20), "A1", "C1"),
        ("decertified", 1, Timespan(JUN20, JUL1), "A1", None),
        ("replaced", 2, Timespan(FEB1, MAY1), "A2", "B2"),
    }
    # from nothing to the end: the final state, adjacent pieces of one dataset merged
    everything = {
        ("certified", 1, Timespan(JAN1, FEB15), None, "A1"),
        ("certified", 1, Timespan(FEB15, MAR15), None, "D1"),
        ("certified", 1, Timespan(MAR15, APR1), None, "B1"),
        ("certified", 1, Timespan(APR1, JUN1), None, "A1"),
        ("certified", 1, Timespan(JUN10, JUL1), None, "C1"),
        ("certified", 1, Timespan(JUL1, None), None, "A1"),
        ("certified", 2, Timespan(JAN1, FEB1), None, "A2"),
        ("certified", 2, Timespan(FEB1, MAY1), None, "B2"),
        ("certified", 2, Timespan(MAY1, DEC1), None, "A2"),
        ("certified", 2, Timespan(DEC1, None), None, "B2"),
    }
    assert diff(tx(1) - 1, tx(12)) == everything
    assert diff(tx(1) - 1, None) == everything  # until defaults to now
    assert diff(tx(12), None) == set()
    assert diff(tx(5), tx(5)) == set()
    # accepted time forms for since/until
    assert cb.collections.diff("calib", "bias", tai_ns_to_utc(tx(12)), None) == []
    with pytest.raises(CollectionError, match="not CALIBRATION"):
        cb.collections.diff("test/run", "bias", tx(1))


# -- valid time from an exposure or visit --------------------------------------------------------------------------
def _insert_exposures(butler: DirectButler) -> None:
    butler.insert_dimension_records("group", [{"instrument": "Cam", "name": "g100"}])
    common = {"instrument": "Cam", "physical_filter": "Cam-r", "group": "g100", "day_obs": 20250101}
    butler.insert_dimension_records(
        "exposure",
        [
            {**common, "id": 100, "obs_id": "e100", "timespan": ("2025-01-01T13:00:00", "2025-01-01T13:00:30")},
            {**common, "id": 101, "obs_id": "e101"},  # no timespan
        ],
    )


def test_exposure_or_visit_in_the_data_id_gives_the_valid_time_at_its_middle(cb: DirectButler) -> None:
    _insert_exposures(cb)
    early, late = put_bias(cb, "E1", 1), put_bias(cb, "L1", 1)
    exp_mid = _t("2025-01-01T13:00:15")  # exposure 100: [13:00:00, 13:00:30) UTC
    visit_mid = _t("2025-01-01T12:05:15")  # visit 5 of the sample: [12:05:00, 12:05:30) UTC
    cb.collections.register("at-mid", "CALIBRATION")  # late from exactly the middle
    cb.collections.register("after-mid", "CALIBRATION")  # late from one ns after the middle
    for name, cut in [("at-mid", exp_mid), ("after-mid", exp_mid + 1)]:
        cb.collections.certify(name, [early], (None, cut))
        cb.collections.certify(name, [late], (cut, None))
    assert cb.get("bias", det(1), exposure=100, collections="at-mid") == {"label": "L1"}
    assert cb.get("bias", det(1), exposure=100, collections="after-mid") == {"label": "E1"}
    assert cb.get("bias", {**det(1), "exposure": 100}, collections="at-mid") == {"label": "L1"}
    expanded = cb.registry.expand_data_id(instrument="Cam", exposure=100, detector=1)  # a pipeline's data ID
    assert cb.get("bias", expanded, collections="at-mid") == {"label": "L1"}
    assert cb.get("bias", expanded, collections="after-mid") == {"label": "E1"}
    found = cb.find_dataset("bias", det(1), exposure=100, collections="at-mid")
    assert found is not None
    assert found.id == late.id
    assert dict(found.data_id) == det(1)  # the exposure is not part of the bias's data ID
    # a visit works the same way
    cb.collections.register("visit-cut", "CALIBRATION")
    cb.collections.certify("visit-cut", [early], (None, visit_mid + 1))
    cb.collections.certify("visit-cut", [late], (visit_mid + 1, None))
    assert cb.get("bias", det(1), visit=5, collections="visit-cut") == {"label": "E1"}
    assert cb.get("bias", det(1), visit=6, collections="visit-cut") == {"label": "L1"}
    visit_coord = cb.registry.expand_data_id(instrument="Cam", visit=6, detector=1)
    assert cb.get("bias", visit_coord, collections="visit-cut") == {"label": "L1"}
    # an explicit at= wins over the exposure's time
    assert cb.get("bias", det(1), exposure=100, collections="at-mid", at=exp_mid - 1) == {"label": "E1"}
    # as_of applies too: before the late one was certified, only the early one was (up to the cut)
    t_early = cb.collections.history("at-mid", "bias")[0].recorded.begin
    assert not cb.exists("bias", det(1), exposure=100, collections="at-mid", as_of=t_early)
    assert cb.get("bias", det(1), exposure=100, collections="at-mid", at=exp_mid - 1, as_of=t_early) == {"label": "E1"}
    # through a chain that mixes a RUN (no bias there for detector 2) and the CALIBRATION collection
    cb.collections.set_chain("defaults", ["test/run", "at-mid"])
    assert cb.get("bias", det(1), exposure=100, collections="defaults") == {"label": "L1"}
    # and the exposure must be usable
    with pytest.raises(DataIdError, match="has no timespan; pass at="):
        cb.get("bias", det(1), exposure=101, collections="at-mid")
    assert cb.get("bias", det(1), exposure=101, collections="at-mid", at=exp_mid) == {"label": "L1"}
    with pytest.raises(DataIdError, match="No exposure 999 of instrument 'Cam'"):
        cb.get("bias", det(1), exposure=999, collections="at-mid")
    with pytest.raises(DataIdError, match="needs the instrument too"):
        cb.get("bias", {"detector": 1, "exposure": 100}, collections="at-mid")


def test_an_exposure_or_visit_supplies_the_filter_and_band_it_was_taken_with(cb: DirectButler) -> None:
    """A flat keyed by filter (or band), looked up with the observation it calibrates: the observation's record
    says which filter, as a pipeline expects; a filter the caller gives is taken as given."""
    _insert_exposures(cb)  # exposure 100 through Cam-r
    cb.register_dataset_type("flat", ["instrument", "detector", "physical_filter"], "StructuredDataDict",
                             is_calibration=True)  # fmt: skip
    cb.register_dataset_type("bflat", ["instrument", "detector", "band"], "StructuredDataDict", is_calibration=True)
    refs = [cb.put({"f": name}, "flat", det(1), physical_filter=name, run="flats") for name in ("Cam-r", "Cam-g")]
    refs.append(cb.put({"b": "r"}, "bflat", det(1), band="r", run="flats"))
    cb.collections.certify("calib", refs, (None, None))
    assert cb.get("flat", det(1), exposure=100, collections="calib") == {"f": "Cam-r"}
    assert cb.get("bflat", det(1), exposure=100, collections="calib") == {"b": "r"}  # through Cam-r's record
    visit = cb.query_dimension_records("visit", visit=5)[0]
    found = cb.find_dataset("flat", det(1), visit=5, collections="calib")
    assert found is not None
    assert found.data_id["physical_filter"] == visit.physical_filter
    assert cb.get("flat", det(1), exposure=100, physical_filter="Cam-g", collections="calib") == {"f": "Cam-g"}


def test_ordinary_dataset_types_keep_their_exposure_or_visit(cb: DirectButler) -> None:
    cb.put({"label": "m"}, "meta", instrument="Cam", visit=5, detector=1)
    cb.collections.set_chain("defaults", ["calib", "test/run"])
    assert cb.get("meta", instrument="Cam", visit=5, detector=1, collections="defaults") == {"label": "m"}


# -- bad input: the specific error, and nothing changed ------------------------------------------------------------
def test_bad_input_gets_a_specific_error_and_changes_nothing(cb: DirectButler) -> None:
    tl = run_timeline(cb)
    meta = cb.put({"x": 1}, "meta", instrument="Cam", visit=1, detector=1)
    spare1, spare2 = put_bias(cb, "X1", 1), put_bias(cb, "X2", 2)
    free3 = put_bias(cb, "F3", 3)
    cb.collections.register("tag", "TAGGED")
    cb.collections.set_chain("chain", ["calib"])

    def snapshot() -> list[tuple[Any, ...]]:
        return [(r.data_id, r.dataset_id, r.valid, r.recorded) for r in cb.collections.history("calib", "bias")]

    before = snapshot()
    answers_before = [lookup(tl, d, at, None) for d in (1, 2, 3) for at in PROBES]
    bad: list[tuple[type[Exception], str, Callable[[], object]]] = [
        (DataIdError, "is before its begin", lambda: cb.collections.certify("calib", [spare1], (FEB1, JAN1))),
        (DataIdError, "is before its begin",
         lambda: cb.collections.certify("calib", [spare1], ("2026-01-01", "2025-12-31T23:59:59.999999"))),
        (DataIdError, "is before its begin", lambda: cb.collections.decertify("calib", "bias", (FEB1, JAN1))),
        (DataIdError, "is empty", lambda: cb.collections.certify("calib", [spare1], (FEB1, FEB1))),
        (DataIdError, "Cannot parse the time", lambda: cb.collections.certify("calib", [spare1], ("soon", None))),
        (ConflictError, "is already certified in 'calib'",
         lambda: cb.collections.certify("calib", [spare1], (MAR1 - 1, MAR1 + 1))),
        # the second ref clashes: the first (a free data ID) is not certified either
        (ConflictError, "already certified", lambda: cb.collections.certify("calib", [free3, spare2], (None, None))),
        (ConflictError, "share the data ID", lambda: cb.collections.certify("calib", [spare1, tl.refs["A1"]],
                                                                            ("2030-01-01", "2031-01-01"))),
        (CollectionError, "it is a RUN collection, not CALIBRATION",
         lambda: cb.collections.certify("test/run", [spare1], ("2030-01-01", None))),
        (CollectionError, "it is a TAGGED collection, not CALIBRATION",
         lambda: cb.collections.certify("tag", [spare1], ("2030-01-01", None))),
        (CollectionError, "it is a CHAINED collection, not CALIBRATION",
         lambda: cb.collections.certify("chain", [spare1], ("2030-01-01", None))),
        (CollectionError, "No collection named 'calibb'",
         lambda: cb.collections.certify("calibb", [spare1], ("2030-01-01", None))),
        (CollectionError, "it is a RUN collection, not CALIBRATION",
         lambda: cb.collections.decertify("test/run", "bias", (None, None))),
        (DatasetTypeError, "'meta' is not a calibration dataset type",
         lambda: cb.collections.certify("calib", [meta], ("2030-01-01", None))),
        (DatasetTypeError, "'meta' is not a calibration dataset type",
         lambda: cb.collections.decertify("calib", "meta", (None, None))),
        (DatasetNotFoundError, "not in the registry",
         lambda: cb.collections.certify("calib", [DatasetRef(uuid.uuid4(), spare1.dataset_type, spare1.data_id,
                                                              "bias/X1")], ("2030-01-01", None))),
        (DataIdError, "is in the future",
         lambda: cb.get("bias", det(1), collections="calib", at=MAR1, as_of="2999-01-01")),
        (DataIdError, "is in the future",
         lambda: cb.find_dataset("bias", det(1), collections="calib", at=MAR1,
                                 as_of=datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=60))),
        (DataIdError, "is in the future", lambda: cb.exists("bias", det(1), collections="calib", at=MAR1,
                                                            as_of=latest_transaction(cb) + 10**12)),
        (DataIdError, "needs a time", lambda: cb.get("bias", det(1), collections="calib")),
        (DataIdError, "needs a time", lambda: cb.find_dataset("bias", det(1), collections="chain")),
        (DataIdError, "needs a time", lambda: cb.exists("bias", det(1), collections=["tag", "calib"], as_of=None)),
    ]  # fmt: skip
    for error, message, call in bad:
        with pytest.raises(error, match=message):
            call()
        assert snapshot() == before, message
    assert [lookup(tl, d, at, None) for d in (1, 2, 3) for at in PROBES] == answers_before
    # a read-only butler reads but cannot certify
    with DirectButler(cb.root) as ro:
        with pytest.raises(PermissionDeniedError, match="read-only"):
            ro.collections.certify("calib", [spare1], ("2030-01-01", None))
        with pytest.raises(PermissionDeniedError, match="read-only"):
            ro.collections.decertify("calib", "bias", (None, None))
        assert ro.get("bias", det(1), collections="calib", at=MAR1, as_of=tl.tx(3)) == {"label": "B1"}
    assert snapshot() == before


def test_the_conflict_message_names_the_clash(cb: DirectButler) -> None:
    a, b = put_bias(cb, "A1", 1), put_bias(cb, "B1", 1)
    cb.collections.certify("calib", [a], ("2025-01-01", "2025-02-01"))
    with pytest.raises(ConflictError) as info:
        cb.collections.certify("calib", [b], ("2025-01-31", None))
    text = str(info.value)
    assert str(a.id) in text
    assert "'bias' {'instrument': 'Cam', 'detector': 1}" in text
    assert str(Timespan.from_times("2025-01-01", "2025-02-01")) in text
    assert "replace=True" in text
    # adjacent ranges do not overlap (half-open), so this needs no replace
    cb.collections.certify("calib", [b], ("2025-02-01", None))
    assert cb.get("bias", det(1), collections="calib", at="2025-02-01") == {"label": "B1"}
    assert cb.get("bias", det(1), collections="calib", at=_t("2025-02-01") - 1) == {"label": "A1"}


def test_decertify_of_nothing_changes_nothing(cb: DirectButler) -> None:
    a = put_bias(cb, "A1", 1)
    cb.collections.certify("calib", [a], ("2025-01-01", "2025-02-01"))
    before = cb.collections.history("calib", "bias")
    assert cb.collections.decertify("calib", "bias", ("2025-03-01", None)) == 0
    assert cb.collections.decertify("calib", "bias", (None, None), data_ids=[det(2)]) == 0
    assert cb.collections.decertify("calib", "bias", (None, None), data_ids=[]) == 0
    assert cb.collections.history("calib", "bias") == before
    assert cb.collections.decertify("calib", "bias", (None, None), data_ids=[det(1)]) == 1
    after = cb.collections.history("calib", "bias")
    assert len(after) == 1
    assert after[0].recorded.end is not None  # closed, not deleted


def test_decertify_of_an_empty_range_is_refused_and_changes_nothing(cb: DirectButler) -> None:
    # [t, t) withdraws no instant; it used to split the row around t (closed, both halves re-appended) and
    # report it as one row decertified, though every lookup answered as before.
    a = put_bias(cb, "A1", 1)
    cb.collections.certify("calib", [a], ("2025-01-01", "2025-02-01"))
    before = cb.collections.history("calib", "bias")
    with pytest.raises(DataIdError, match="is empty: it would withdraw nothing"):
        cb.collections.decertify("calib", "bias", ("2025-01-15", "2025-01-15"))
    with pytest.raises(DataIdError, match="is empty"):
        cb.collections.decertify("calib", "bias", (FEB1, FEB1), data_ids=[det(1)])
    assert cb.collections.history("calib", "bias") == before


def test_times_beyond_the_stored_range(cb: DirectButler) -> None:
    # Unbounded ends are stored as sentinels at +-2**62 ns (2116-02-20 / 1823-11-12 TAI).  A lookup after
    # 2116 used to miss even a certification valid forever, and a bound beyond the sentinels was stored as
    # a silently wrong range (read back as unbounded, or empty) or escaped as a raw OverflowError on SQLite.
    a, b = put_bias(cb, "A1", 1), put_bias(cb, "B1", 1)
    cb.collections.certify("calib", [a], (None, "2025-01-01"))
    cb.collections.certify("calib", [b], ("2025-01-01", None))
    for at in ("2117-01-01", "2200-01-01", datetime.datetime(9999, 12, 31), 2**63 - 1, 2**70):
        assert lookup_label(cb, at) == "B1", at
        assert [r.id for r in cb.query_datasets("bias", collections="calib", at=at)] == [b.id], at
    for at in ("1800-01-01", datetime.datetime(1, 1, 1), -(2**63), -(2**70)):
        assert lookup_label(cb, at) == "A1", at
    before = cb.collections.history("calib", "bias")
    spare = put_bias(cb, "X1", 1)
    for valid in [("2030-01-01", "9999-12-31"), ("2200-01-01", None), (None, "1800-01-01"), (0, 2**63)]:
        with pytest.raises(DataIdError, match="outside the times a timespan can hold"):
            cb.collections.certify("calib", [spare], valid, replace=True)
        with pytest.raises(DataIdError, match="outside the times a timespan can hold"):
            cb.collections.decertify("calib", "bias", valid)
    assert cb.collections.history("calib", "bias") == before


def lookup_label(butler: DirectButler, at: Any) -> str | None:
    ref = butler.find_dataset("bias", det(1), collections="calib", at=at)
    return None if ref is None else str(butler.get(ref)["label"])


def test_history_and_diff_of_a_type_that_is_not_a_calibration(cb: DirectButler) -> None:
    # the dataset type is wrong, as for certify and decertify: a DatasetTypeError (it was a DataIdError)
    for call in (lambda: cb.collections.history("calib", "meta"),
                 lambda: cb.collections.diff("calib", "meta", since="2025-01-01")):  # fmt: skip
        with pytest.raises(DatasetTypeError, match=r"'meta' is not a calibration dataset type.*is_calibration=True"):
            call()
