"""Random certify / replace / decertify sequences against a plain in-memory model of both time axes.

The model keeps, per detector, a list of rows (dataset, valid begin, valid end, recorded begin, recorded end)
exactly as DESIGN invariant 4 describes them: certify appends, replace and decertify close rows and re-append
what is left outside the range.  After every step, the butler must answer every (detector, valid time,
transaction time) question the way the model does.  SQLite only, for speed: the scripted timeline in
tests/test_collections_calibrations.py covers PostgreSQL.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybutler.butler import Butler
from skybutler.dimensions import TIMESPAN_MAX, Timespan
from skybutler.errors import ConflictError, DatasetNotFoundError
from skybutler.testing.sample import populate_sample

DAY = 86_400 * 10**9
EPOCH = 1_735_689_600 * 10**9  # 2025-01-01 in TAI-ish ns; only differences matter
DETECTORS = (0, 1)
N_DATASETS = 3


@dataclass
class Row:
    dataset: int
    begin: int
    end: int
    recorded_begin: int
    recorded_end: int = TIMESPAN_MAX


@dataclass
class Model:
    rows: dict[int, list[Row]] = field(default_factory=lambda: {d: [] for d in DETECTORS})

    def current(self, detector: int) -> list[Row]:
        return [r for r in self.rows[detector] if r.recorded_end == TIMESPAN_MAX]

    def close_and_trim(self, detector: int, begin: int, end: int, now: int) -> None:
        for row in [r for r in self.current(detector) if r.begin < end and begin < r.end]:
            row.recorded_end = now
            if row.begin < begin:
                self.rows[detector].append(Row(row.dataset, row.begin, begin, now))
            if row.end > end:
                self.rows[detector].append(Row(row.dataset, end, row.end, now))

    def certify(self, detector: int, dataset: int, begin: int, end: int, now: int, replace: bool) -> bool:
        clash = [r for r in self.current(detector) if r.begin < end and begin < r.end]
        if clash and not replace:
            return False
        self.close_and_trim(detector, begin, end, now)
        self.rows[detector].append(Row(dataset, begin, end, now))
        return True

    def lookup(self, detector: int, at: int, as_of: int) -> int | None:
        found = [
            r.dataset
            for r in self.rows[detector]
            if r.begin <= at < r.end and r.recorded_begin <= as_of < r.recorded_end
        ]
        assert len(found) <= 1, "the model itself overlaps"
        return found[0] if found else None


operation = st.tuples(
    st.sampled_from(["certify", "replace", "decertify"]),
    st.sampled_from(DETECTORS),
    st.integers(0, N_DATASETS - 1),
    st.integers(0, 8),
    st.integers(1, 4),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=12))
def test_butler_agrees_with_the_model(ops: list[tuple[str, int, int, int, int]]) -> None:
    root = Path(tempfile.mkdtemp(prefix="calmodel-"))
    try:
        Butler.create(root / "repo")
        with Butler(root / "repo", run="setup") as butler:
            populate_sample(butler, n_visits=1, n_detectors=len(DETECTORS))
            butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
            butler.collections.register("calib", "CALIBRATION")
            refs = {
                (d, k): butler.put({"k": k}, "bias", instrument="Cam", detector=d, run=f"bias/{k}")
                for d in DETECTORS
                for k in range(N_DATASETS)
            }
            label = {ref.id: k for (_, k), ref in refs.items()}
            model = Model()
            times: list[int] = []
            for kind, detector, dataset, start, length in ops:
                begin, end = EPOCH + start * DAY, EPOCH + (start + length) * DAY
                valid = Timespan(begin, end)
                if kind == "decertify":
                    butler.collections.decertify(
                        "calib", "bias", valid, data_ids=[{"instrument": "Cam", "detector": detector}]
                    )
                    rows = butler.collections.history("calib", "bias")
                    now = max([r.recorded.begin or 0 for r in rows] + [r.recorded.end or 0 for r in rows] + [0])
                    model.close_and_trim(detector, begin, end, now)
                else:
                    replace = kind == "replace"
                    try:
                        now = butler.collections.certify("calib", [refs[detector, dataset]], valid, replace=replace)
                        accepted = True
                    except ConflictError:
                        accepted = False
                    assert accepted == model.certify(detector, dataset, begin, end, now if accepted else 0, replace)
                    if not accepted:
                        continue
                times.append(now)
                for as_of in [*times, None]:
                    for detector_ in DETECTORS:
                        for day in range(14):
                            at = EPOCH + day * DAY + DAY // 2
                            expected = model.lookup(detector_, at, TIMESPAN_MAX - 1 if as_of is None else as_of)
                            try:
                                got = butler.get("bias", instrument="Cam", detector=detector_, collections="calib",
                                                 at=at, as_of=as_of)  # fmt: skip
                                found: int | None = int(got["k"])
                            except DatasetNotFoundError:
                                found = None
                            assert found == expected, (kind, detector_, day, as_of)
            assert all(isinstance(i, uuid.UUID) for i in label)
    finally:
        shutil.rmtree(root, ignore_errors=True)
