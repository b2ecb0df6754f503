"""Repository maintenance that needs both the registry and the datastore: crash repair and integrity checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from skybutler.datastore import PENDING, ReconcileReport, pending_ids
from skybutler.errors import StorageError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from skybutler.datasets import ArtifactInfo
    from skybutler.datastore import Datastore, LeafDatastore
    from skybutler.registry import Registry
    from skybutler.types import Progress

__all__ = ["VerifyReport", "reconcile", "remove_artifacts", "retrieve", "verify"]


def reconcile(
    registry: Registry, datastore: Datastore, *, grace_seconds: float, remove_unknown: bool
) -> ReconcileReport:
    """Finish or undo interrupted puts and removes (see `Butler.reconcile`), in every datastore.

    For each datastore (each child of a chain) the registry says which staged artifacts belong to registered
    datasets (promote them), which trashed paths still await deletion and which paths are live, counting
    only the rows that name that datastore; the datastore does the work.  Only then is the trash emptied,
    so a crash during reconcile itself is repaired by the next one.
    """
    trash = registry.datasets.trash()
    report = ReconcileReport()
    for leaf in datastore.leaves():
        staged_ids = []
        for id_hex in leaf.staged_ids():
            try:
                staged_ids.append(uuid.UUID(id_hex))
            except ValueError:
                continue
        found = registry.datasets.artifacts(staged_ids, datastore=leaf.name) if staged_ids else {}
        registered = {i.hex: a.path for i, a in found.items()}
        trashed = [path for _, _, name, path in trash if name == leaf.name]
        live = registry.datasets.live_paths(datastore=leaf.name)
        report.extend(
            leaf.reconcile_files(registered, live, trashed, grace_seconds=grace_seconds, remove_unknown=remove_unknown,
                                 registered_pending=_registered_pending(registry, leaf))
        )  # fmt: skip
        # only this leaf's entries: trash of a datastore no longer configured stays, for when it is back
        registry.datasets.drop_trash(trashed, datastore=leaf.name)
    return report


def _registered_pending(registry: Registry, leaf: LeafDatastore) -> dict[str, ArtifactInfo]:
    """Pending-area files of datasets registered in ``leaf`` at another path, with their records: a merge
    died after registering them, before moving them into place."""
    files = leaf.file_datastore()
    by_key = {} if files is None else pending_ids(files.transport.keys(PENDING))
    if not by_key:
        return {}
    found = registry.datasets.artifacts([uuid.UUID(h) for h in set(by_key.values())], datastore=leaf.name)
    records = {i.hex: a for i, a in found.items()}
    return {key: records[h] for key, h in by_key.items() if h in records and records[h].path != key}


def remove_artifacts(registry: Registry, datastore: Datastore, entries: Iterable[tuple[uuid.UUID, str, str]]) -> None:
    """Delete the artifacts of removed datasets (``(dataset id, datastore, path)`` trash entries), then the trash.

    A path another dataset still refers to in the same datastore (an ingested file shared by datasets)
    stays.  Entries of a datastore the configuration no longer has stay in the trash for `reconcile`.

    Raises
    ------
    StorageError
        A file could not be deleted.  The datasets are already gone from the registry, so calling remove
        again finds nothing to do: the message says to run `reconcile`, which empties the trash.
    """
    by_leaf: dict[str, list[str]] = {}
    for _, name, path in entries:
        by_leaf.setdefault(name, []).append(path)
    known = {leaf.name: leaf for leaf in datastore.leaves()}
    for name, paths in by_leaf.items():
        leaf = known.get(name)
        if leaf is None:
            continue
        paths = list(dict.fromkeys(paths))
        shared = registry.datasets.live_paths(paths, datastore=name)
        try:
            leaf.delete(p for p in paths if p not in shared)  # external (direct) files are never deleted
        except StorageError as exc:
            raise StorageError(
                f"{exc} The datasets are removed from the registry and their files listed in its trash; run "
                "`skybutler reconcile` (butler.reconcile()) once the storage answers, to delete them."
            ) from exc
        registry.datasets.drop_trash(paths, datastore=name)  # another child's entry at the same path stays


def retrieve(
    datastore: Datastore, artifacts: Sequence[tuple[ArtifactInfo, ...]], destination: Path, *, overwrite: bool
) -> list[Path]:
    """Copy each dataset's file (the first copy, in chain order, that is a file) under ``destination``.

    Raises
    ------
    StorageError
        A dataset is held only by an in-memory datastore: it has no file.
    """
    chosen: dict[str, list[tuple[int, ArtifactInfo]]] = {}
    for n, copies in enumerate(artifacts):
        ordered = datastore.ordered(copies)
        files = [a for a in ordered if datastore.leaf(a.datastore).file_datastore() is not None]
        artifact = files[0] if files else ordered[0]  # the latter refuses, saying it holds no file
        chosen.setdefault(artifact.datastore, []).append((n, artifact))
    out: list[Path | None] = [None] * len(artifacts)
    for name, group in chosen.items():
        paths = datastore.leaf(name).retrieve([a for _, a in group], destination, overwrite=overwrite)
        for (n, _), path in zip(group, paths, strict=True):
            out[n] = path
    return [p for p in out if p is not None]


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
    datastore: Datastore,
    ids: Iterable[uuid.UUID] | None,
    *,
    progress: Progress | None = None,
) -> VerifyReport:
    """Re-read the artifacts of ``ids`` (every dataset when None) and compare sizes and checksums.

    Every copy is checked: a dataset held by two children of a chain has two artifacts.  Reads run in
    parallel on datastores that profit (object stores).  Unknown artifacts are looked for only when every
    dataset is verified, since only then is the set of expected ones complete.
    """
    from skybutler.datastore._parallel import run_all

    found = registry.datasets.all_artifacts(None if ids is None else list(ids))
    report = VerifyReport()
    items = sorted(((i, a) for i, copies in found.items() for a in copies), key=lambda item: item[1].path)
    total = len(items)
    batch = max(datastore.concurrency * 4, 64)
    for start in range(0, total, batch):
        part = items[start : start + batch]
        problems = run_all(
            [partial(datastore.leaf(artifact.datastore).verify, artifact) for _, artifact in part],
            datastore.concurrency,
        )
        for (dataset_id, artifact), problem in zip(part, problems, strict=True):
            uri = datastore.uri_of(artifact)
            if problem is None:
                report.ok += 1
            elif problem == "missing":
                report.missing.append((dataset_id, uri))
            else:
                report.corrupt.append((dataset_id, uri, problem))
        if progress is not None:
            progress("verify", start + len(part), total)
    if ids is None:
        for leaf in datastore.leaves():
            live = {a.path for _, a in items if a.datastore == leaf.name}
            report.unknown += leaf.unknown_keys(live | registry.datasets.live_paths(datastore=leaf.name))
    return report
