"""Repository maintenance that needs both the registry and the datastore: crash repair and integrity checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from skybutler.datastore import STAGING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from skybutler.datastore import FileDatastore, ReconcileReport
    from skybutler.registry import Registry
    from skybutler.types import Progress

__all__ = ["VerifyReport", "reconcile", "verify"]


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


@dataclass(slots=True)
class VerifyReport:
    """What `verify` found: each registered artifact re-read and compared with its recorded size and checksum."""

    ok: int = 0
    """Artifacts whose size and checksum match the record."""
    missing: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    """``(dataset id, URI)`` of registered artifacts with no file."""
    corrupt: list[tuple[uuid.UUID, str, str]] = field(default_factory=list)
    """``(dataset id, URI, what differs)`` of artifacts whose bytes differ from the record."""
    unknown: list[str] = field(default_factory=list)
    """Files under the datastore root that no dataset refers to (listed only when the whole repository is
    verified; ``reconcile(remove_unknown=True)`` deletes them)."""

    @property
    def problems(self) -> int:
        """Missing plus corrupt artifacts (unknown files do not harm any dataset)."""
        return len(self.missing) + len(self.corrupt)

    def __str__(self) -> str:
        lines = [f"{self.ok} ok, {len(self.missing)} missing, {len(self.corrupt)} corrupt, {len(self.unknown)} unknown"]
        lines += [f"missing: {uri} (dataset {i})" for i, uri in self.missing]
        lines += [f"corrupt: {uri} (dataset {i}): {why}" for i, uri, why in self.corrupt]
        lines += [f"unknown: {path}" for path in self.unknown]
        return "\n".join(lines)


def verify(
    registry: Registry,
    datastore: FileDatastore,
    ids: Iterable[uuid.UUID] | None,
    *,
    progress: Progress | None = None,
) -> VerifyReport:
    """Re-read the artifacts of ``ids`` (every dataset when None) and compare sizes and checksums.

    Reads run in parallel on transports that profit (object stores).  Unknown files are looked for only
    when every dataset is verified, since only then is the set of expected files complete.
    """
    from skybutler.datastore._parallel import run_all

    artifacts = registry.datasets.artifacts(None if ids is None else list(ids))
    report = VerifyReport()
    items = sorted(artifacts.items(), key=lambda item: item[1].path)
    total = len(items)
    batch = max(datastore.transport.concurrency * 4, 64)
    for start in range(0, total, batch):
        part = items[start : start + batch]
        found = run_all(
            [partial(datastore.verify, artifact) for _, artifact in part],
            datastore.transport.concurrency,
        )
        for (dataset_id, artifact), problem in zip(part, found, strict=True):
            uri = datastore.uri(artifact)
            if problem is None:
                report.ok += 1
            elif problem == "missing":
                report.missing.append((dataset_id, uri))
            else:
                report.corrupt.append((dataset_id, uri, problem))
        if progress is not None:
            progress("verify", start + len(part), total)
    if ids is None:
        report.unknown = datastore.unknown_keys({a.path for a in artifacts.values()} | registry.datasets.live_paths())
    return report
