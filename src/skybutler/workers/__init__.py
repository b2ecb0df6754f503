"""Scale-out: plan once with the registry, run tasks on workers with storage only, merge in one transaction.

`Butler.plan_work` resolves every task's inputs and predicts its outputs into a `Manifest`; a
`WorkerButler` reads and writes one task's datasets from it with no database in reach; `Butler.merge`
registers what the workers wrote, checked against sizes and checksums.  The engine adapters that run the
tasks (concurrent.futures, Dask, Parsl) are in `skybutler.exec`.  The design is in docs/scale-out.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from skybutler.workers._manifest import FORMAT, VERSION, Manifest, ManifestInput, ManifestOutput, Task, write_manifest
from skybutler.workers._records import DATABASE_MODULES, TaskRecord, database_modules, guard_against_databases
from skybutler.workers._worker import WorkerButler, WorkerDeferredHandle

if TYPE_CHECKING:
    from skybutler.workers._merge import MergeHook, MergeReport, read_records

# The merge runs where the registry is; workers import this package without it (and so without SQLAlchemy).
_DRIVER_SIDE = {"MergeHook", "MergeReport", "read_records"}

__all__ = [
    "DATABASE_MODULES",
    "FORMAT",
    "VERSION",
    "Manifest",
    "ManifestInput",
    "ManifestOutput",
    "MergeHook",
    "MergeReport",
    "Task",
    "TaskRecord",
    "WorkerButler",
    "WorkerDeferredHandle",
    "database_modules",
    "guard_against_databases",
    "read_records",
    "write_manifest",
]


def __getattr__(name: str) -> Any:
    if name not in _DRIVER_SIDE:
        raise AttributeError(f"module 'skybutler.workers' has no attribute {name!r}")
    value = getattr(importlib.import_module("skybutler.workers._merge"), name)
    globals()[name] = value
    return value
