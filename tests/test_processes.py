"""Real processes against one repository: concurrent writers lose nothing; a killed writer corrupts nothing."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from skybutler.butler import DirectButler
from skybutler.testing.sample import populate_sample

pytestmark = pytest.mark.slow

N_PROCESSES = 4
PUTS_EACH = 500


def _prepare(repo: str) -> None:
    with DirectButler(repo, run="setup") as butler:
        populate_sample(butler, n_visits=PUTS_EACH, n_detectors=N_PROCESSES)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")


def _writer(repo: str, detector: int, start: mp.synchronize.Event, errors: mp.Queue[str]) -> None:
    try:
        with DirectButler(repo, run="shared") as butler:
            start.wait(30)
            for visit in range(PUTS_EACH):
                butler.put(
                    {"visit": visit, "detector": detector}, "meta", instrument="Cam", visit=visit, detector=detector
                )
    except BaseException as exc:  # report everything to the parent
        errors.put(f"writer {detector}: {type(exc).__name__}: {exc}")


def _data_files(repo: str) -> list[Path]:
    return [p for p in Path(repo).rglob("*.json") if ".staging" not in p.parts]


def test_four_processes_putting_into_one_repository_lose_nothing(repo: str) -> None:
    _prepare(repo)
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    errors: mp.Queue[str] = ctx.Queue()
    workers = [ctx.Process(target=_writer, args=(repo, d, start, errors)) for d in range(N_PROCESSES)]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join(240)
    assert all(w.exitcode == 0 for w in workers), [w.exitcode for w in workers]
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []
    with DirectButler(repo, collections="shared", writeable=True) as butler:
        assert butler.registry.datasets.count() == N_PROCESSES * PUTS_EACH
        refs = butler.query_datasets_in_run("meta", "shared")
        assert len(refs) == N_PROCESSES * PUTS_EACH
        for ref in random.Random(1).sample(refs, 200):
            assert butler.get(ref) == {"visit": ref.data_id["visit"], "detector": ref.data_id["detector"]}
        assert butler.reconcile(grace_seconds=0).unknown == []
    assert len(_data_files(repo)) == N_PROCESSES * PUTS_EACH


def _churn(repo: str, seed: int, started: Any = None) -> None:
    """Put and remove forever (until killed): the state at the kill is whatever it is.

    ``started`` (an event) is set once the loop runs, so the parent kills a writer at work, not one still
    starting up on a loaded machine.
    """
    rng = random.Random(seed)
    with DirectButler(repo, run="churn") as butler:
        steps = 0
        while True:
            steps += 1
            if started is not None and steps == 20:
                started.set()
            visit, detector = rng.randrange(50), rng.randrange(N_PROCESSES)
            ref = butler.find_dataset("meta", instrument="Cam", visit=visit, detector=detector)
            if ref is None:
                butler.put({"seed": seed, "visit": visit}, "meta", instrument="Cam", visit=visit, detector=detector)
            else:
                butler.remove([ref])


def test_a_killed_writer_leaves_a_repository_that_reconcile_repairs(repo: str) -> None:
    _prepare(repo)
    ctx = mp.get_context("spawn")
    rng = random.Random(7)
    for round_ in range(5):
        started = ctx.Event()
        child = ctx.Process(target=_churn, args=(repo, round_, started))
        child.start()
        assert started.wait(120), "the writer did not start"
        time.sleep(0.2 + rng.random())  # then some more puts and removes
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        assert child.exitcode == -signal.SIGKILL
    with DirectButler(repo, run="churn") as butler:
        report = butler.reconcile(grace_seconds=0)
        assert report.missing == []
        refs = butler.query_datasets_in_run("meta", "churn")
        assert refs, "the churn loop should have left datasets behind"
        for ref in refs:
            assert butler.get(ref)["visit"] == ref.data_id["visit"]
        again = butler.reconcile(grace_seconds=0)
        assert (again.unknown, again.promoted, again.removed_staging, again.removed_trash) == ([], [], [], [])
        live = {butler.get_uri(ref).removeprefix("file://") for ref in refs}
    leftovers = [p for p in Path(repo).rglob("*") if p.is_file() and (".staging" in p.parts or ".tmp-" in p.name)]
    assert leftovers == []
    assert {str(p) for p in _data_files(repo)} == live
