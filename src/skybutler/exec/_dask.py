"""The Dask distributed engine: one future per task on the user's `distributed.Client`."""

from __future__ import annotations

import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

from skybutler.exec._summary import DEFAULT_RETRIES, Collector, RunSummary
from skybutler.exec._task import TaskFunction, run_task
from skybutler.exec._tasks import saved_manifest

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Mapping

    from skybutler.butler import Butler
    from skybutler.types import Progress
    from skybutler.workers import Manifest

__all__ = ["run_dask"]


def run_dask(
    plan: Manifest | str | os.PathLike[str],
    function: TaskFunction,
    *,
    client: Any,
    butler: Butler | None = None,
    tasks: Iterable[int] | None = None,
    retries: int = DEFAULT_RETRIES,
    resources: Mapping[str, float] | None = None,
    merge_every: int | None = None,
    isolated: bool = True,
    progress: Progress | None = None,
) -> RunSummary:
    """Run every task of a saved plan on a Dask cluster; merge into ``butler`` (if given) as they finish.

    ``tasks`` runs only those tasks (a re-run of ``summary.failed``, say); by default all of them.

    Tasks are submitted with ``client.map`` (``retries`` and ``resources`` are Dask's own: a task that
    raises is re-run up to ``retries`` times; ``resources`` restricts tasks to workers that declare them).
    A worker lost mid-task is Dask's business: the scheduler re-runs the task elsewhere up to
    ``distributed.scheduler.allowed-failures`` times, then reports ``KilledWorker``, which the summary lists.
    Workers must reach the manifest's path and the datastore; they need no database (``isolated`` guards
    them: `guard_against_databases`).
    """
    from distributed import as_completed

    manifest, path = saved_manifest(plan)
    collector = Collector(manifest, butler, merge_every=merge_every, progress=progress, tasks=tasks)
    todo = collector.tasks
    keys = [f"skybutler-{manifest.plan_id[:12]}-{i}-{uuid.uuid4().hex[:8]}" for i in todo]
    futures = client.map(
        partial(run_task, path, function=function, isolated=isolated),
        todo,
        key=keys,
        retries=retries,
        resources=dict(resources) if resources else None,
        pure=False,
    )
    task_of = {f.key: i for i, f in zip(todo, futures, strict=True)}
    for future in as_completed(futures):  # type: ignore[no-untyped-call]
        task = task_of[future.key]
        try:  # a result held by a worker that died since is computed again: result() waits for it
            record = future.result()
        except Exception as exc:  # the task's own error (after its retries), or KilledWorker
            collector.failed(task, exc)
        else:
            collector.done(record)
        future.release()
    return collector.finish()
