"""Repository maintenance that needs both the registry and the datastore: crash repair."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from skybutler.datastore import STAGING

if TYPE_CHECKING:
    from skybutler.datastore import FileDatastore, ReconcileReport
    from skybutler.registry import Registry

__all__ = ["reconcile"]


def reconcile(
    registry: Registry, datastore: FileDatastore, *, grace_seconds: float, remove_unknown: bool
) -> ReconcileReport:
    """Finish or undo interrupted puts and removes (see `Butler.reconcile`).

    The registry says which staged files belong to registered datasets (promote them) and which trashed
    paths still await deletion; the datastore does the file work.  Only then is the trash emptied, so a
    crash during reconcile itself is repaired by the next one.
    """
    trash = registry.datasets.trash()
    live = registry.datasets.live_paths()
    staged_ids = []
    for key in datastore.transport.keys(STAGING):
        try:
            staged_ids.append(uuid.UUID(key[len(STAGING) :].split(".", 1)[0]))
        except ValueError:
            continue
    registered = {i.hex: a.path for i, a in registry.datasets.artifacts(staged_ids).items()}
    trashed = [path for _, _, path in trash]
    report = datastore.reconcile_files(
        registered, live, trashed, grace_seconds=grace_seconds, remove_unknown=remove_unknown
    )
    registry.datasets.drop_trash(trashed)
    return report
