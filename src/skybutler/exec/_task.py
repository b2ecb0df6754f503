"""The one function every engine runs on a worker: open the task's `WorkerButler`, call the user's function,
commit the record and return it.  Module-level, so engines pickle it by reference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skybutler.workers import WorkerButler

__all__ = ["TaskFunction", "run_task"]

TaskFunction = Callable[[WorkerButler], Any]
"""What users give the engines: a function of one task's `WorkerButler` (its return value is ignored)."""


def run_task(manifest: str, task: int, function: TaskFunction, isolated: bool = True) -> dict[str, Any]:
    """Run ``function`` on task ``task`` of the manifest saved at ``manifest``; return the task's record.

    Anything ``function`` raises propagates, so the engine counts a failure (and retries, by its settings);
    the record is written only after ``function`` returned, so a failed or killed attempt leaves nothing that
    merge would register.  ``isolated`` guards the worker process (`guard_against_databases`): no database driver
    imported, no SQLite connection opened.
    """
    wb = WorkerButler.from_manifest(manifest, task, isolated=isolated)
    function(wb)
    return wb.commit().to_dict()
