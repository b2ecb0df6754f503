"""Dask: a LocalCluster of 2 worker processes runs W1-shaped plans of 500 tasks (CI: with Parsl, under 5 minutes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.exec._checks import check_complete, data_ids, registered

from skybutler.butler import DirectButler
from skybutler.exec import run_dask
from skybutler.testing.scaleout import Faulty, summarize, summarize_with_pid
from skybutler.workers import Manifest

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client(s3_endpoint: str) -> Iterator[object]:
    """Two worker processes, one thread each; a lost worker's task is retried once before KilledWorker.

    Made after the S3 server (``s3_endpoint``), so the workers inherit its dummy credentials.
    """
    import dask

    settings = {"distributed.scheduler.allowed-failures": 1, "distributed.scheduler.worker-saturation": 1.0}
    with dask.config.set(settings):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
        with distributed.Client(cluster) as client:
            yield client
        cluster.close()


def test_dask_run_with_failures_retries_tampering_and_rerun(
    client: object, w1_files: tuple[DirectButler, Manifest], tmp_path: Path
) -> None:
    butler, plan = w1_files
    # task 3 always raises; task 5 raises once (Dask's retries re-run it); task 7 kills its worker every time
    faulty = Faulty(fail=frozenset({3, 5}), kill=frozenset({7}), once_dir=str(tmp_path), always=frozenset({3, 7}))
    summary = run_dask(plan, faulty, client=client, retries=1)  # no butler: merge separately below
    assert set(summary.failed) == {3, 7}, summary.failed
    assert "failed on purpose" in summary.failed[3]
    assert "KilledWorker" in summary.failed[7]
    # attempts beyond the first: Dask's retries, and re-runs of results lost with a killed worker
    assert summary.retried[5] >= 1
    assert summary.retried[3] >= 1
    assert summary.retried[7] >= 1  # each lost attempt left its marker
    assert summary.database_modules == {}  # workers import no SQL engine (isolated=True checks it too)
    assert len(summary.done) == 498
    # one finished output is tampered with before the merge: refused, reported, not registered
    tampered = plan.task(11).outputs[0]
    butler.datastore.files().transport.put(tampered.pending, b'{"forged": 1}')
    report = butler.merge(plan, summary.records)
    assert report.registered == 497 and set(report.refused) == {11}  # noqa: PT018
    assert butler.merge(plan, summary.records).registered == 0  # merge twice: nothing added
    assert len(registered(butler)) == 497
    assert not data_ids(plan, [3, 7, 11]) & set(registered(butler))  # nothing of the failed or refused tasks
    # the re-run of what failed completes the plan, merging as tasks finish
    rerun = run_dask(plan, summarize, client=client, butler=butler, tasks=[3, 7, 11], merge_every=2)
    assert rerun.ok
    assert sorted(rerun.done) == [3, 7, 11]
    check_complete(butler, plan, rerun)


@pytest.mark.postgres
@pytest.mark.s3
def test_dask_run_on_postgres_and_s3(client: object, w1_postgres_s3: tuple[DirectButler, Manifest]) -> None:
    butler, plan = w1_postgres_s3
    summary = run_dask(plan, summarize, client=client, butler=butler, resources=None)
    assert summary.ok
    assert len(summary.done) == 500
    assert summary.merge is not None and summary.merge.registered == 500  # noqa: PT018
    check_complete(butler, plan, summary)


def test_dask_resources_send_tasks_only_to_workers_that_declare_them(
    client: object, w1_files: tuple[DirectButler, Manifest]
) -> None:
    butler, plan = w1_files
    c: Any = client
    before = set(c.scheduler_info()["workers"])
    # a third worker process, the only one declaring the resource
    io = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", c.scheduler.address, "--resources", "skybutler_io=1",
         "--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--name", "io"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        c.wait_for_workers(len(before) + 1, timeout=60)
        (address,) = set(c.scheduler_info()["workers"]) - before
        assert c.scheduler_info()["workers"][address]["resources"] == {"skybutler_io": 1}
        io_pid = c.run(os.getpid, workers=[address])[address]
        tasks = list(range(12))
        summary = run_dask(plan, summarize_with_pid, client=client, butler=butler, tasks=tasks,
                           resources={"skybutler_io": 1})  # fmt: skip
        assert summary.ok
        assert sorted(summary.done) == tasks
        pids = {butler.get(ref)["pid"] for ref in registered(butler).values()}  # type: ignore[arg-type]
        assert pids == {io_pid}  # every task ran on the worker with the resource, none on the two without
        # without resources the tasks spread over the cluster's own workers too
        rest = run_dask(plan, summarize_with_pid, client=client, butler=butler, tasks=range(12, 60))
        assert rest.ok
        pids = {butler.get(ref)["pid"] for ref in registered(butler).values()}  # type: ignore[arg-type]
        assert len(pids) > 1
    finally:
        c.retire_workers(workers=list(set(c.scheduler_info()["workers"]) - before), close_workers=True)
        try:
            io.wait(timeout=30)
        except subprocess.TimeoutExpired:
            io.kill()
            io.wait()
        deadline = time.monotonic() + 30
        while set(c.scheduler_info()["workers"]) - before and time.monotonic() < deadline:
            time.sleep(0.1)
