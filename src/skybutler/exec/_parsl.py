"""The Parsl engine: one ``python_app`` call per task, on the user's Parsl configuration or a local one."""

from __future__ import annotations

import concurrent.futures
import tempfile
from typing import TYPE_CHECKING, Any

from skybutler.exec._summary import DEFAULT_RETRIES, Collector, RunSummary
from skybutler.exec._task import TaskFunction, run_task
from skybutler.exec._tasks import saved_manifest

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable

    from skybutler.butler import Butler
    from skybutler.types import Progress
    from skybutler.workers import Manifest

__all__ = ["DEFAULT_STALL_SECONDS", "local_parsl_config", "run_parsl"]

DEFAULT_STALL_SECONDS = 3600.0
"""How long `run_parsl` waits with no task finishing before it gives the unfinished ones up: an hour, far longer
than a pause between the results of a healthy run, short enough that a lost result does not hold a batch job
until its wall-time limit."""


def local_parsl_config(*, workers: int = 2, retries: int = DEFAULT_RETRIES, run_dir: str | None = None) -> Any:
    """A Parsl configuration for this machine: a HighThroughputExecutor with ``workers`` worker processes
    (separate interpreters, so isolated), retrying a failed task up to ``retries`` times."""
    from parsl.config import Config
    from parsl.executors import HighThroughputExecutor
    from parsl.providers import LocalProvider

    executor = HighThroughputExecutor(
        label="skybutler_local",
        address="127.0.0.1",
        max_workers_per_node=workers,
        heartbeat_period=1,  # a lost worker is noticed within seconds, not the default half minute
        heartbeat_threshold=5,
        poll_period=10,
        prefetch_capacity=8,  # each manager keeps tasks queued: no round trip between small tasks
        provider=LocalProvider(init_blocks=1, min_blocks=1, max_blocks=1),  # type: ignore[no-untyped-call]
    )
    run_dir = run_dir or tempfile.mkdtemp(prefix="skybutler-parsl-")
    return Config(executors=[executor], retries=retries, run_dir=run_dir, strategy="none", initialize_logging=False)


def run_parsl(
    plan: Manifest | str | os.PathLike[str],
    function: TaskFunction,
    *,
    config: Any = None,
    butler: Butler | None = None,
    tasks: Iterable[int] | None = None,
    retries: int = DEFAULT_RETRIES,
    merge_every: int | None = None,
    isolated: bool = True,
    progress: Progress | None = None,
    stall_seconds: float | None = DEFAULT_STALL_SECONDS,
) -> RunSummary:
    """Run every task of a saved plan as Parsl ``python_app`` calls; merge into ``butler`` (if given).

    ``tasks`` runs only those tasks (a re-run of ``summary.failed``, say); by default all of them.

    ``config`` is a ``parsl.config.Config`` (its ``retries`` is the retry policy); ``None`` uses
    `local_parsl_config` with ``retries``.  The configuration is loaded for the run and cleaned up after.
    A worker lost mid-task fails its attempt (Parsl's ``ManagerLost``/``WorkerLost``), which counts
    against the same retries.

    ``stall_seconds`` guards against a run that can never end: a worker killed while it was handing a result
    back (a batch system's kill comes at any moment) can leave half a message in a pipe of Parsl's worker
    pool, whose reader then waits for the rest forever, and the task's future with it.  When no task has
    finished for ``stall_seconds``, every unfinished task is listed as failed (re-run them with
    ``tasks=summary.failed``) and the executor is shut down.  Set it above your longest task's run time;
    ``None`` waits forever.
    """
    import parsl
    from parsl.app.app import python_app

    manifest, path = saved_manifest(plan)
    collector = Collector(manifest, butler, merge_every=merge_every, progress=progress, tasks=tasks)
    dfk = parsl.load(config if config is not None else local_parsl_config(retries=retries))
    try:
        app = python_app(run_task, data_flow_kernel=dfk)
        futures = {app(path, i, function, isolated): i for i in collector.tasks}
        pending = set(futures)
        while pending:
            finished, pending = concurrent.futures.wait(
                pending, timeout=stall_seconds, return_when=concurrent.futures.FIRST_COMPLETED
            )
            if not finished:
                _give_up(sorted(futures[f] for f in pending), stall_seconds, collector)
                break
            for future in finished:
                error = future.exception()
                if error is None:
                    collector.done(future.result())
                else:
                    collector.failed(futures[future], error)
    finally:
        dfk.cleanup()
        parsl.clear()
    return collector.finish()


def _give_up(tasks: list[int], stall_seconds: float | None, collector: Collector) -> None:
    """List the tasks of a stalled run as failed, saying why and what to do."""
    reason = (
        f"no task finished for {stall_seconds:g} s, so this one was given up: Parsl may have lost its result "
        "(a worker killed while handing a result back), or it runs longer than stall_seconds; re-run it with "
        "tasks=summary.failed, with a larger stall_seconds if it is a long task"
    )
    for task in tasks:
        collector.failed(task, reason)
