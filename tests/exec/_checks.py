"""Checks shared by the engine tests: every output registered once, readable, right."""

from __future__ import annotations

from skybutler.butler import DirectButler
from skybutler.exec import RunSummary
from skybutler.testing.scaleout import BIAS_SWITCH_VISIT
from skybutler.workers import Manifest


def registered(butler: DirectButler) -> dict[tuple[int, int], object]:
    """``(visit, detector)`` → ref of every ``summary`` registered (duplicates would collide: counted apart)."""
    refs = list(butler.query_datasets("summary", collections="w1/out", find_first=False))
    keys = {(r.data_id["visit"], r.data_id["detector"]): r for r in refs}
    assert len(keys) == len(refs), "an output was registered twice"
    return keys  # type: ignore[return-value]


def check_complete(butler: DirectButler, plan: Manifest, summary: RunSummary | None = None) -> None:
    """Every task's output registered once, its bytes verified, its value right; no worker had a database."""
    refs = registered(butler)
    assert len(refs) == len(plan)
    assert butler.verify(list(refs.values())).ok  # type: ignore[arg-type]
    for visit, detector in [(0, 0), (BIAS_SWITCH_VISIT, 3), (49, 9)]:
        got = butler.get("summary", instrument="Cam", visit=visit, detector=detector, collections="w1/out")
        epoch = 0 if visit < BIAS_SWITCH_VISIT else 1
        assert got == {"visit": visit, "detector": detector, "flux": visit * 100 + detector - 1000.0 - epoch,
                       "epoch": epoch}  # fmt: skip
    assert butler.reconcile(grace_seconds=0).pending == []
    if summary is not None:
        assert summary.database_modules == {}


def data_ids(plan: Manifest, tasks: list[int]) -> set[tuple[int, int]]:
    """``(visit, detector)`` of the outputs of ``tasks``."""
    return {(o.data_id["visit"], o.data_id["detector"]) for t in tasks for o in plan.task(t).outputs}
