"""Collections and bitemporal calibrations on SQLite and PostgreSQL (issue 3 acceptance)."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest

from skybutler.butler import DirectButler
from skybutler.datasets import DatasetRef
from skybutler.dimensions import Timespan, to_tai_ns
from skybutler.errors import CollectionError, ConflictError, DataIdError, DatasetNotFoundError, DatasetTypeError

CAM3 = {"instrument": "Cam", "detector": 3}


@pytest.fixture
def calib(butler: DirectButler) -> DirectButler:
    butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    butler.collections.register("calib", "CALIBRATION")
    return butler


def _bias(butler: DirectButler, label: str) -> DatasetRef:
    return butler.put({"label": label}, "bias", CAM3, run=f"bias/{label}")


def _label(butler: DirectButler, at: str, as_of: int | None = None) -> str | None:
    try:
        got = butler.get("bias", CAM3, collections="calib", at=at, as_of=as_of)
    except DatasetNotFoundError:
        return None
    return str(got["label"])


def _tick() -> None:
    time.sleep(0.002)  # transaction times are strictly increasing anyway; this keeps them apart on the clock


def test_timeline_answers_every_valid_and_transaction_time(calib: DirectButler) -> None:
    a, b, c = _bias(calib, "A"), _bias(calib, "B"), _bias(calib, "C")
    t1 = calib.collections.certify("calib", [a], ("2025-01-01", None))
    _tick()
    t2 = calib.collections.certify("calib", [b], ("2025-03-01", "2025-04-01"), replace=True)  # splits A
    _tick()
    calib.collections.decertify("calib", "bias", ("2025-06-01", "2025-07-01"))
    t3 = max(r.recorded.begin or 0 for r in calib.collections.history("calib", "bias"))
    _tick()
    t4 = calib.collections.certify("calib", [c], ("2025-06-15", "2025-06-20"))  # fills part of the hole
    expected = {
        # at:            as_of t1,  t2,   t3,   t4 (= now)
        "2024-12-31": (None, None, None, None),
        "2025-02-01": ("A", "A", "A", "A"),
        "2025-03-15": ("A", "B", "B", "B"),
        "2025-04-15": ("A", "A", "A", "A"),
        "2025-06-10": ("A", "A", None, None),
        "2025-06-17": ("A", "A", None, "C"),
        "2025-08-01": ("A", "A", "A", "A"),
    }
    for at, answers in expected.items():
        got = tuple(_label(calib, at, as_of) for as_of in (t1, t2, t3, t4))
        assert got == answers, at
        assert _label(calib, at) == answers[-1]
    closed = [r for r in calib.collections.history("calib", "bias") if r.recorded.end is not None]
    assert len(closed) == 2  # A's first row (replace) and A's row after the split (decertify)


def test_diff_names_certified_replaced_and_decertified_ranges(calib: DirectButler) -> None:
    a, b = _bias(calib, "A"), _bias(calib, "B")
    t1 = calib.collections.certify("calib", [a], ("2025-01-01", "2025-12-01"))
    _tick()
    calib.collections.certify("calib", [b], ("2025-03-01", "2025-04-01"), replace=True)
    calib.collections.decertify("calib", "bias", ("2025-06-01", "2025-07-01"))
    calib.collections.certify("calib", [b], ("2025-12-01", None))
    changes = {(c.kind, c.valid, c.before, c.after) for c in calib.collections.diff("calib", "bias", since=t1)}
    assert changes == {
        ("replaced", Timespan.from_times("2025-03-01", "2025-04-01"), a.id, b.id),
        ("decertified", Timespan.from_times("2025-06-01", "2025-07-01"), a.id, None),
        ("certified", Timespan.from_times("2025-12-01", None), None, b.id),
    }


def test_lookup_takes_the_time_from_a_visit(calib: DirectButler) -> None:
    a, b = _bias(calib, "A"), _bias(calib, "B")
    visit = calib.registry.fetch_dimension_records("visit", instrument="Cam", visit=5)[0]
    middle = visit.timespan.begin + (visit.timespan.end - visit.timespan.begin) // 2
    calib.collections.certify("calib", [a], (None, middle))
    calib.collections.certify("calib", [b], (middle, None))
    assert calib.get("bias", CAM3, visit=5, collections="calib") == {"label": "B"}
    assert calib.get("bias", CAM3, visit=4, collections="calib") == {"label": "A"}


def _history(butler: DirectButler) -> list[tuple[object, ...]]:
    return [(r.dataset_id, r.valid, r.recorded) for r in butler.collections.history("calib", "bias")]


def test_bad_input_gets_the_specific_error_and_changes_nothing(calib: DirectButler) -> None:
    a, b = _bias(calib, "A"), _bias(calib, "B")
    calib.collections.certify("calib", [a], ("2025-01-01", "2025-02-01"))
    meta = calib.put({"x": 1}, "meta", instrument="Cam", visit=1, detector=1)
    before = _history(calib)
    with pytest.raises(DataIdError, match="before its begin"):
        calib.collections.certify("calib", [b], ("2025-02-01", "2025-01-01"))
    with pytest.raises(ConflictError, match="already certified"):
        calib.collections.certify("calib", [b], ("2025-01-15", "2025-03-01"))
    with pytest.raises(CollectionError, match="not CALIBRATION"):
        calib.collections.certify("test/run", [b], ("2025-03-01", None))
    with pytest.raises(DatasetTypeError, match="not a calibration dataset type"):
        calib.collections.certify("calib", [meta], ("2025-03-01", None))
    with pytest.raises(DataIdError, match="in the future"):
        calib.get("bias", CAM3, collections="calib", at="2025-01-10", as_of="2999-01-01")
    with pytest.raises(DataIdError, match="needs a time"):
        calib.get("bias", CAM3, collections="calib")
    assert _history(calib) == before


def test_chains_tags_and_removal(calib: DirectButler) -> None:
    a, b = _bias(calib, "A"), _bias(calib, "B")
    calib.collections.certify("calib", [a], (None, None))
    calib.collections.register("tagged", "TAGGED")
    calib.collections.associate("tagged", [b])
    with pytest.raises(ConflictError, match="one dataset per type and data ID"):
        calib.collections.associate("tagged", [a])
    calib.collections.set_chain("inner", ["tagged"])
    calib.collections.set_chain("outer", ["inner", "calib"])
    assert calib.collections.flatten("outer") == ["tagged", "calib"]
    assert calib.get("bias", CAM3, collections="outer", at="2025-01-01") == {"label": "B"}
    calib.collections.set_chain("outer", ["calib", "inner"])  # redefined: the calibration comes first now
    assert calib.get("bias", CAM3, collections="outer", at="2025-01-01") == {"label": "A"}
    with pytest.raises(CollectionError, match="cycle"):
        calib.collections.set_chain("inner", ["outer"])
    with pytest.raises(CollectionError, match="child of"):
        calib.collections.remove("inner")
    assert calib.collections.disassociate("tagged", [b]) == 1
    calib.collections.remove("outer")
    calib.collections.remove("inner")
    calib.collections.remove("tagged")
    assert calib.exists(b)  # the dataset stays in its run
    assert [c.name for c in calib.collections.query("*", types=["TAGGED", "CHAINED"])] == []
    with pytest.raises(CollectionError, match=r"use butler\.collections\.remove_runs"):
        calib.collections.remove("bias/B")
    assert calib.collections.remove_runs(["bias/B"]) == 1
    assert calib.exists("bias", CAM3, collections="bias/A")


def _certify_in_process(root: str, label: str, start: mp.synchronize.Event, results: mp.Queue[str]) -> None:
    with DirectButler(root, writeable=True) as butler:
        ref = butler.find_dataset("bias", CAM3, collections=f"bias/{label}")
        assert ref is not None
        start.wait(30)
        try:
            butler.collections.certify("calib", [ref], ("2025-01-01", "2025-06-01"))
            results.put("ok")
        except ConflictError:
            results.put("conflict")


@pytest.mark.slow
def test_two_processes_certifying_overlaps_exactly_one_wins(calib: DirectButler) -> None:
    _bias(calib, "A"), _bias(calib, "B")
    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_certify_in_process, args=(calib.root, lab, start, results)) for lab in "AB"]
    for p in procs:
        p.start()
    time.sleep(1.0)
    start.set()
    for p in procs:
        p.join(60)
    assert sorted(results.get(timeout=5) for _ in procs) == ["conflict", "ok"]
    current = [r for r in calib.collections.history("calib", "bias") if r.recorded.end is None]
    assert len(current) == 1
    assert to_tai_ns("2025-01-01") == current[0].valid.begin
