"""Random certify / replace / decertify sequences against an in-memory model of both time axes.

Hypothesis drives a state machine: each step certifies (one or two data IDs at once, with or without
``replace``) or decertifies (some data IDs, or all) over a range of small integer times (hours after
2025-01-01, either end possibly unbounded).  The same step is applied to a real butler and to `Model`, a plain
list of rows written from DESIGN invariant 4 alone: certify appends; replace and decertify close the
overlapping current rows (``recorded_end = now``) and re-append the parts outside the range.  After every step:

* the butler accepts or refuses (`ConflictError`) exactly when the model does;
* the history rows (both axes) equal the model's rows;
* for every transaction time recorded so far (and for "now"), every data ID and valid times at and next to
  every boundary, ``find_dataset`` answers what the model answers.

SQLite only, for speed (about thirty examples of up to ten steps, each with hundreds of lookups): the scripted
timeline of tests/collections/test_calibrations.py runs the same semantics on SQLite *and* PostgreSQL.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from skybutler.butler import Butler
from skybutler.datasets import DatasetRef
from skybutler.dimensions import TIMESPAN_MAX, TIMESPAN_MIN, Timespan, to_tai_ns
from skybutler.errors import ConflictError
from skybutler.testing.sample import populate_sample

HOUR = 3600 * 10**9
BASE = to_tai_ns("2025-01-01T00:00:00")
DETECTORS = (0, 1, 2)
N_DATASETS = 3  # per detector
MAX_T = 8
#: Valid times asked about: each integer hour and the nanosecond before it, and far outside the range.
PROBES = [BASE - 100 * HOUR, *(BASE + t * HOUR + d for t in range(MAX_T + 1) for d in (-1, 0)), BASE + 100 * HOUR]


def hours(t: int | None) -> int | None:
    return None if t is None else BASE + t * HOUR


@dataclass
class Row:
    detector: int
    dataset: int
    begin: int  # database sentinels for unbounded ends, as Timespan.to_db gives them
    end: int
    recorded_begin: int
    recorded_end: int = TIMESPAN_MAX

    def key(self) -> tuple[int, int, int, int, int, int]:
        return (self.detector, self.dataset, self.begin, self.end, self.recorded_begin, self.recorded_end)


@dataclass
class Model:
    """Both time axes as a plain list of rows; nothing is ever removed from it."""

    rows: list[Row] = field(default_factory=list)

    def current_overlapping(self, detector: int, begin: int, end: int) -> list[Row]:
        return [
            r
            for r in self.rows
            if r.detector == detector and r.recorded_end == TIMESPAN_MAX and r.begin < end and begin < r.end
        ]

    def close_and_trim(self, detector: int, begin: int, end: int, now: int) -> int:
        hit = self.current_overlapping(detector, begin, end)
        for row in hit:
            row.recorded_end = now
            if row.begin < begin:
                self.rows.append(Row(detector, row.dataset, row.begin, begin, now))
            if row.end > end:
                self.rows.append(Row(detector, row.dataset, end, row.end, now))
        return len(hit)

    def would_accept(self, detectors: list[int], begin: int, end: int, replace: bool) -> bool:
        return replace or not any(self.current_overlapping(d, begin, end) for d in detectors)

    def certify(self, detectors: list[int], dataset: int, begin: int, end: int, now: int) -> None:
        for d in detectors:
            self.close_and_trim(d, begin, end, now)
            self.rows.append(Row(d, dataset, begin, end, now))

    def lookup(self, detector: int, at: int, as_of: int) -> int | None:
        found = [
            r.dataset
            for r in self.rows
            if r.detector == detector and r.begin <= at < r.end and r.recorded_begin <= as_of < r.recorded_end
        ]
        assert len(found) <= 1, "the model itself overlaps"
        return found[0] if found else None


bound = st.none() | st.integers(0, MAX_T)
valid_ranges = st.tuples(bound, bound).filter(lambda p: p[0] is None or p[1] is None or p[0] < p[1])
some_detectors = st.lists(st.sampled_from(DETECTORS), min_size=1, max_size=2, unique=True)


class CalibrationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="calmodel-"))
        Butler.create(self.tmp / "repo")  # SQLite: see the module docstring
        self.butler = Butler(self.tmp / "repo", run="setup")
        populate_sample(self.butler, n_visits=1, n_detectors=len(DETECTORS))
        self.butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
        self.butler.collections.register("calib", "CALIBRATION")
        self.refs: dict[tuple[int, int], DatasetRef] = {
            (d, k): self.butler.put({"k": k}, "bias", instrument="Cam", detector=d, run=f"bias/{k}")
            for d in DETECTORS
            for k in range(N_DATASETS)
        }
        self.dataset_of = {ref.id: k for (_, k), ref in self.refs.items()}
        self.model = Model()
        self.times: list[int] = []

    def teardown(self) -> None:
        self.butler.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _record(self, now: int) -> None:
        assert not self.times or now > self.times[-1], "transaction times must increase"
        self.times.append(now)

    @rule(detectors=some_detectors, dataset=st.integers(0, N_DATASETS - 1), valid=valid_ranges, replace=st.booleans())
    def certify(self, detectors: list[int], dataset: int, valid: tuple[int | None, int | None], replace: bool) -> None:
        span = Timespan(hours(valid[0]), hours(valid[1]))
        begin, end = span.to_db()
        accept = self.model.would_accept(detectors, begin, end, replace)
        refs = [self.refs[d, dataset] for d in detectors]
        try:
            now = self.butler.collections.certify("calib", refs, span, replace=replace)
        except ConflictError:
            assert not accept, "the butler refused a certify the model accepts"
            return
        assert accept, "the butler accepted an overlapping certify without replace"
        self._record(now)
        self.model.certify(detectors, dataset, begin, end, now)

    @rule(detectors=st.none() | some_detectors, valid=valid_ranges)
    def decertify(self, detectors: list[int] | None, valid: tuple[int | None, int | None]) -> None:
        span = Timespan(hours(valid[0]), hours(valid[1]))
        begin, end = span.to_db()
        data_ids = None if detectors is None else [{"instrument": "Cam", "detector": d} for d in detectors]
        closed = self.butler.collections.decertify("calib", "bias", span, data_ids=data_ids)
        if closed == 0:  # nothing to withdraw: no transaction happened (the invariant checks the history)
            assert all(not self.model.current_overlapping(d, begin, end) for d in detectors or DETECTORS)
            return
        rows = self.butler.collections.history("calib", "bias")
        now = max(t for r in rows for t in (r.recorded.begin, r.recorded.end) if t is not None)
        self._record(now)
        assert closed == sum(self.model.close_and_trim(d, begin, end, now) for d in detectors or DETECTORS)

    @invariant()
    def history_matches_the_model(self) -> None:
        got = sorted(
            (
                int(str(r.data_id["detector"])),
                self.dataset_of[r.dataset_id],
                *r.valid.to_db(),
                *r.recorded.to_db(),
            )
            for r in self.butler.collections.history("calib", "bias")
        )
        assert got == sorted(r.key() for r in self.model.rows)
        assert all(TIMESPAN_MIN <= k[2] < k[3] <= TIMESPAN_MAX for k in got)

    @invariant()
    def lookups_match_the_model_at_every_recorded_time(self) -> None:
        for as_of in [*self.times, None]:
            model_as_of = TIMESPAN_MAX - 1 if as_of is None else as_of
            for d in DETECTORS:
                for at in PROBES:
                    ref = self.butler.find_dataset(
                        "bias", instrument="Cam", detector=d, collections="calib", at=at, as_of=as_of
                    )
                    got = None if ref is None else self.dataset_of[ref.id]
                    assert got == self.model.lookup(d, at, model_as_of), (d, at, as_of)


def test_random_sequences_agree_with_the_model_on_sqlite() -> None:
    run_state_machine_as_test(  # type: ignore[no-untyped-call, unused-ignore]  # annotated in newer hypothesis
        CalibrationMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
