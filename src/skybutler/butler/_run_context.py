"""Run records from the butler's side: made on a run's first write (or by `Butler.run_context`), never twice.

A butler remembers the runs it has recorded, so only its first write into a run pays for the record: the
environment's fingerprint (a few ``stat`` calls), one indexed read, and one insert that is skipped when
another writer made the record first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skybutler.registry import CollectionRecord, Registry

__all__ = ["finish_run", "run_recorder", "start_run"]


def run_recorder(registry: Registry, run: CollectionRecord, recorded_runs: set[int]) -> Callable[[], None] | None:
    """What a butler's first put into a run records besides its datasets: the run's record (None after that).

    The returned function runs inside the put's transaction, so a put that fails leaves no record either.
    A put's inputs are not here: `Datasets.insert` writes them with the datasets (`Lineage.write`).
    """
    if run.id in recorded_runs:
        return None
    from skybutler.butler._environment import environment_id, process_info  # platform, socket: when recording

    env_ids = [environment_id(registry)]
    info = process_info()

    def record() -> None:
        registry.record_provenance(run, info=info, env_ids=env_ids)

    return record


def start_run(registry: Registry, run: CollectionRecord, config: Mapping[str, Any] | None) -> None:
    """Record a run entered with `Butler.run_context` (its start now; its configuration replaces any earlier)."""
    from skybutler.butler._environment import environment_id, process_info

    info = process_info(dict(config) if config is not None else None)
    registry.record_provenance(run, info=info, env_ids=[environment_id(registry)])
    if config is not None:
        registry.runs.set_config(run.id, dict(config))


def finish_run(registry: Registry, run: CollectionRecord) -> None:
    """Set the end time of a run left through `Butler.run_context`."""
    registry.runs.finish(run.id, time.time_ns())
