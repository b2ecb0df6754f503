"""The `concurrent.futures` engine: worker processes (or threads) on this machine."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from skybutler.exec._summary import DEFAULT_RETRIES, Collector, RunSummary
from skybutler.exec._task import TaskFunction, run_task
from skybutler.exec._tasks import saved_manifest

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable

    from skybutler.butler import Butler
    from skybutler.types import Progress
    from skybutler.workers import Manifest

__all__ = ["run_local"]


def run_local(
    plan: Manifest | str | os.PathLike[str],
    function: TaskFunction,
    *,
    butler: Butler | None = None,
    tasks: Iterable[int] | None = None,
    max_workers: int = 2,
    processes: bool = True,
    retries: int = DEFAULT_RETRIES,
    merge_every: int | None = None,
    isolated: bool = True,
    progress: Progress | None = None,
) -> RunSummary:
    """Run every task of a saved plan on a local pool; merge into ``butler`` (if given) as they finish.

    ``tasks`` runs only those tasks (a re-run of ``summary.failed``, say); by default all of them.

    ``processes`` (the default) runs tasks in fresh interpreters (``spawn``: guard the script's entry with
    ``if __name__ == "__main__":``), each guarded when ``isolated`` (`guard_against_databases`: no database
    driver imported, no SQLite connection opened).  Threads share this process and its registry, so they
    are never guarded: use them for small plans and tests.  A task that raises is run again up to ``retries``
    times.  A worker process killed mid-task breaks the pool: the pool is replaced and every task that was
    running in it is charged one attempt.  At most ``max_workers`` tasks run at once.
    """
    manifest, path = saved_manifest(plan)
    collector = Collector(manifest, butler, merge_every=merge_every, progress=progress, tasks=tasks)
    todo = sorted(range(len(manifest)) if tasks is None else set(tasks), reverse=True)
    attempts: dict[int, int] = {}

    def new_pool() -> Executor:
        if processes:
            return ProcessPoolExecutor(max_workers, mp_context=multiprocessing.get_context("spawn"))
        return ThreadPoolExecutor(max_workers)

    pool = new_pool()
    running: dict[Future[dict[str, object]], int] = {}
    try:
        while todo or running:
            while todo and len(running) < max_workers:
                task = todo.pop()
                running[pool.submit(run_task, path, task, function, isolated and processes)] = task
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                task = running.pop(future)
                error = future.exception()
                if error is None:
                    collector.done(future.result())
                    continue
                broken = broken or isinstance(error, BrokenProcessPool)
                attempts[task] = attempts.get(task, 0) + 1
                if attempts[task] <= retries:
                    todo.append(task)
                else:
                    collector.failed(task, error)
            if broken:
                for future, task in running.items():  # the pool is gone: so are the tasks it was running
                    future.cancel()
                    attempts[task] = attempts.get(task, 0) + 1
                    if attempts[task] <= retries:
                        todo.append(task)
                    else:
                        collector.failed(task, "the worker process was lost")
                running.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return collector.finish()
