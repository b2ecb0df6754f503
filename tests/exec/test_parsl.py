"""Parsl: a local HighThroughputExecutor (2 worker processes) runs W1-shaped plans of 500 tasks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.exec._checks import check_complete, data_ids, registered

from skybutler.butler import DirectButler
from skybutler.exec import local_parsl_config, run_parsl
from skybutler.testing.scaleout import Faulty, Stuck, summarize
from skybutler.workers import Manifest

pytest.importorskip("parsl")


def test_parsl_run_with_failures_retries_tampering_and_rerun(
    w1_files: tuple[DirectButler, Manifest], tmp_path: Path
) -> None:
    butler, plan = w1_files
    # task 3 always raises; task 5 raises once (Parsl's retries re-run it); task 7 kills its worker every time
    faulty = Faulty(fail=frozenset({3, 5}), kill=frozenset({7}), once_dir=str(tmp_path), always=frozenset({3, 7}))
    config = local_parsl_config(retries=1, run_dir=str(tmp_path / "runinfo"))
    summary = run_parsl(plan, faulty, config=config)  # no butler: merge separately below
    assert set(summary.failed) == {3, 7}, summary.failed
    assert "failed on purpose" in summary.failed[3]
    assert summary.retried[5] == 1
    assert summary.retried[3] == 1
    assert summary.retried[7] == 1  # the lost attempt and its retry
    assert summary.database_modules == {}
    assert len(summary.done) == 498
    tampered = plan.task(11).outputs[0]
    butler.datastore.files().transport.put(tampered.pending, b'{"forged": 1}')
    report = butler.merge(plan, summary.records)
    assert report.registered == 497
    assert set(report.refused) == {11}
    assert butler.merge(plan, summary.records).registered == 0  # merge twice: nothing added
    assert not data_ids(plan, [3, 7, 11]) & set(registered(butler))
    rerun = run_parsl(plan, summarize, butler=butler, tasks=[3, 7, 11], merge_every=2,
                      config=local_parsl_config(run_dir=str(tmp_path / "runinfo2")))  # fmt: skip
    assert rerun.ok
    assert sorted(rerun.done) == [3, 7, 11]
    check_complete(butler, plan, rerun)


def test_parsl_stalled_run_gives_up_unfinished_tasks(w1_files: tuple[DirectButler, Manifest], tmp_path: Path) -> None:
    # task 2's result never comes back: without the stall guard the run would wait for it forever; the guard
    # allows for the executor's start (its worker processes import skybutler: seconds on a loaded machine)
    _, plan = w1_files
    start = time.monotonic()
    summary = run_parsl(plan, Stuck(stuck=frozenset({2})), tasks=[0, 1, 2, 3], stall_seconds=30,
                        config=local_parsl_config(run_dir=str(tmp_path / "runinfo")))  # fmt: skip
    assert time.monotonic() - start < 150
    assert sorted(summary.done) == [0, 1, 3]
    assert list(summary.failed) == [2]
    assert "no task finished for 30 s" in summary.failed[2]
    assert "tasks=summary.failed" in summary.failed[2]


@pytest.mark.postgres
@pytest.mark.s3
def test_parsl_run_on_postgres_and_s3(w1_postgres_s3: tuple[DirectButler, Manifest], tmp_path: Path) -> None:
    butler, plan = w1_postgres_s3
    summary = run_parsl(plan, summarize, butler=butler, config=local_parsl_config(run_dir=str(tmp_path / "runinfo")))
    assert summary.ok
    assert len(summary.done) == 500
    assert summary.merge is not None
    assert summary.merge.registered == 500
    check_complete(butler, plan, summary)
