"""Run records from the butler's side: made on a run's first write (or by `Butler.run_context`), never twice.

A butler remembers the runs it has recorded, so only its first write into a run pays for the record: the
environment's fingerprint (a few ``stat`` calls), one indexed read, and one insert that is skipped when
another writer made the record first.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from skybutler.datasets import DatasetIdMode

if TYPE_CHECKING:
    from skybutler.datasets import DatasetRef
    from skybutler.registry import CollectionRecord, Registry

__all__ = ["finish_run", "put_recorder", "start_run"]


def put_recorder(
    registry: Registry,
    run: CollectionRecord,
    inputs: Sequence[Sequence[uuid.UUID]],
    recorded_runs: set[int],
    id_mode: DatasetIdMode | None = None,
) -> Callable[[list[DatasetRef]], None] | None:
    """What a put records besides its datasets (None for the plain put: a recorded run and no inputs).

    The returned function runs inside the put's transaction with the new refs: it makes the run's record
    if it has none, and records each dataset's inputs.  Random new IDs (no ``id_mode``, or RANDOM) cannot close a
    cycle, so the check is skipped for them; deterministic IDs are checked.
    """
    fresh = id_mode is None or id_mode is DatasetIdMode.RANDOM
    first = run.id not in recorded_runs
    if not first and not any(inputs):
        return None
    from skybutler.butler._environment import environment_id, process_info  # platform, socket: when recording

    env_ids = [environment_id(registry)] if first else []
    info = process_info() if first else None

    def record(refs: list[DatasetRef]) -> None:
        edges = {
            ref.id: (ref.dataset_type.name, ids)
            for ref, ids in zip(refs, inputs or [()] * len(refs), strict=True)
            if ids
        }
        registry.record_provenance(run, edges=edges, info=info, env_ids=env_ids, fresh=fresh)

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
