"""Two real processes certifying overlapping ranges for one data ID at the same moment, on SQLite and PostgreSQL.

Non-overlap of current rows is enforced in skybutler's own serialized write path (SQLite ``BEGIN IMMEDIATE``, a
PostgreSQL advisory transaction lock), not by a database extension: when two certifiers race, exactly one wins
and the other gets a `ConflictError`; with ``replace=True`` both win, one after the other.  Afterwards no two
current rows of a data ID overlap.  Each worker process runs several rounds, released together by a barrier.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from skybutler.butler import Butler
from skybutler.datasets import DatasetRef
from skybutler.dimensions import Timespan
from skybutler.errors import ConflictError

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier

pytestmark = pytest.mark.slow

DET = {"instrument": "Cam", "detector": 3}
ROUNDS = 6
LABELS = ("P", "Q")


def _valid(label: str, year: int) -> tuple[str, str]:
    """P wants [Jan, Jul) and Q wants [Apr, Oct) of ``year``: they overlap over [Apr, Jul)."""
    return (f"{year}-01-01", f"{year}-07-01") if label == "P" else (f"{year}-04-01", f"{year}-10-01")


def _round_year(i: int) -> int:
    return 2030 + i


def _certifier(root: str, label: str, replace: bool, barrier: Barrier, results: mp.Queue[tuple[str, int, str]]) -> None:
    try:
        with Butler(root, writeable=True) as butler:
            ref = butler.find_dataset("bias", DET, collections=f"bias/{label}")
            assert ref is not None
            for i in range(ROUNDS):
                year = _round_year(i)
                barrier.wait(60)  # both processes are connected and ready: go together
                try:
                    butler.collections.certify(f"calib-{year}", [ref], _valid(label, year), replace=replace)
                    results.put((label, year, "ok"))
                except ConflictError as exc:
                    results.put((label, year, f"conflict: {exc}"))
    except BaseException as exc:  # report everything to the parent
        results.put((label, -1, f"error: {type(exc).__name__}: {exc}"))
        barrier.abort()


def _race(butler: Butler, replace: bool) -> dict[int, dict[str, str]]:
    butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
    for label in LABELS:
        butler.put({"label": label}, "bias", DET, run=f"bias/{label}")
    for i in range(ROUNDS):
        butler.collections.register(f"calib-{_round_year(i)}", "CALIBRATION")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(LABELS))
    results: mp.Queue[tuple[str, int, str]] = ctx.Queue()
    procs = [ctx.Process(target=_certifier, args=(butler.root, label, replace, barrier, results)) for label in LABELS]
    for p in procs:
        p.start()
    outcome: dict[int, dict[str, str]] = {}
    try:
        for _ in range(ROUNDS * len(LABELS)):
            label, year, text = results.get(timeout=120)
            assert year != -1, text
            outcome.setdefault(year, {})[label] = text
    except queue.Empty:
        pytest.fail(f"the certifiers did not report in time; got {outcome}")
    finally:
        for p in procs:
            p.join(60)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0, 0]
    return outcome


def _current_rows_do_not_overlap(butler: Butler, collection: str) -> list[tuple[str, Timespan]]:
    rows = butler.collections.history(collection, "bias")
    current = [r for r in rows if r.recorded.end is None]
    for i, r1 in enumerate(current):
        for r2 in current[i + 1 :]:
            assert r1.data_id != r2.data_id or not r1.valid.overlaps(r2.valid), (collection, r1, r2)
    labels = {ref.id: ref.run.removeprefix("bias/") for ref in _refs(butler)}
    return [(labels[r.dataset_id], r.valid) for r in current]


def _refs(butler: Butler) -> list[DatasetRef]:
    return [ref for label in LABELS for ref in butler.query_datasets_in_run("bias", f"bias/{label}")]


@pytest.fixture
def importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spawned children import this module by its package path: make its root importable from any cwd."""
    root = Path(__file__).resolve().parents[2]
    if str(root) not in sys.path:
        monkeypatch.syspath_prepend(str(root))


def test_overlapping_certifies_at_once_exactly_one_wins(butler: Butler, importable: None) -> None:
    outcome = _race(butler, replace=False)
    assert sorted(outcome) == [_round_year(i) for i in range(ROUNDS)]
    for year, by_label in outcome.items():
        assert sorted(by_label) == ["P", "Q"]
        [winner] = [label for label, text in by_label.items() if text == "ok"]
        [loser] = [label for label, text in by_label.items() if text.startswith("conflict: ")]
        assert "is already certified" in by_label[loser]
        assert f"which overlaps {Timespan.from_times(*_valid(loser, year))}" in by_label[loser]
        current = _current_rows_do_not_overlap(butler, f"calib-{year}")
        assert len(current) == 1
        assert current[0][0] == winner
        # the loser's row was never written, not even closed: the history holds only the winner's row
        assert len(butler.collections.history(f"calib-{year}", "bias")) == 1
        mid_overlap = f"{year}-05-01"
        assert butler.get("bias", DET, collections=f"calib-{year}", at=mid_overlap) == {"label": winner}


def test_overlapping_replaces_at_once_both_win_in_some_order(butler: Butler, importable: None) -> None:
    outcome = _race(butler, replace=True)
    assert sorted(outcome) == [_round_year(i) for i in range(ROUNDS)]
    for year, by_label in outcome.items():
        assert by_label == {"P": "ok", "Q": "ok"}, (year, by_label)
        collection = f"calib-{year}"
        current = set(_current_rows_do_not_overlap(butler, collection))
        history = butler.collections.history(collection, "bias")
        assert len(history) == 3  # the first certification, closed; what is left of it; the second
        [closed] = [r for r in history if r.recorded.end is not None]
        labels = {ref.id: ref.run.removeprefix("bias/") for ref in _refs(butler)}
        first = labels[closed.dataset_id]
        second = "Q" if first == "P" else "P"
        assert closed.valid == Timespan.from_times(*_valid(first, year))
        replacement = next(r for r in history if labels[r.dataset_id] == second)
        assert replacement.recorded.begin == closed.recorded.end  # one transaction closed and appended
        jan, apr, jul, oct_ = (f"{year}-{m}-01" for m in ("01", "04", "07", "10"))
        if first == "P":  # Q took [Apr, Oct) and P kept [Jan, Apr)
            want = {("P", Timespan.from_times(jan, apr)), ("Q", Timespan.from_times(apr, oct_))}
        else:  # P took [Jan, Jul) and Q kept [Jul, Oct)
            want = {("P", Timespan.from_times(jan, jul)), ("Q", Timespan.from_times(jul, oct_))}
        assert current == want
        assert butler.get("bias", DET, collections=collection, at=f"{year}-05-01") == {"label": second}
