"""Repairing what a crash left in a file datastore: staged files, claims of final paths, trashed artifacts.

A put stages its file, claims the final path (`Transport.claim`: a hard link, a shared object or a
placeholder, never a replaced file), registers the dataset, then drops the staging name.  So a crash leaves:

* a staging file whose dataset is not registered, and maybe its claim: both are deleted (the claim is known
  by `Transport.identity`, the same as its staging file's: a stranger's file never is);
* a staging file whose dataset is registered: its claim is finished; a file of an older version that was
  never claimed is claimed now, never over another file (that case is reported in ``problems`` and the
  staged file kept: a registered dataset's bytes are never deleted);
* artifacts of removed datasets (the trash): deleted.

Files in the pending-writes area (`skybutler.datastore._pending`) are reported apart (``pending``) until their
area expires, and only then counted (and removed) as unknown -- except one whose dataset is registered: a
merge of worker outputs that died after its registry transaction and before moving the file to its final
path (where its claim stands: a hard link locally, a placeholder on object stores).  A server's upload commit
moves its files to ``.staging/`` before claiming, so it leaves none of these.  Its promotion
is finished like a staging file's, once its bytes are checked against the dataset's record; until then it
is never removed, even past its area's expiry.

One artifact that cannot be repaired (a path blocked by a file, a directory where a file should be) is
reported and the rest goes on: reconcile never fails for the whole repository because of one path.

A folder under the root that holds a ``butler.yaml`` of no dataset is another repository (made there before
``create`` refused it, or by the reference butler): its files are never unknown, so never deleted
(`other_repositories`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING

from skybutler.datastore._base import ReconcileReport
from skybutler.datastore._keys import is_repository_file, key_problem
from skybutler.datastore._pending import scan_pending
from skybutler.errors import SkyButlerError

if TYPE_CHECKING:
    from skybutler.datasets import ArtifactInfo
    from skybutler.datastore._file_datastore import FileDatastore
    from skybutler.transports import Transport

__all__ = ["other_repositories", "reconcile_files", "unknown_keys"]


def reconcile_files(
    store: FileDatastore,
    registered: Mapping[str, str],
    live_paths: set[str],
    trash_paths: Iterable[str],
    *,
    grace_seconds: float,
    remove_unknown: bool,
    staging: str,
    registered_pending: Mapping[str, ArtifactInfo],
) -> ReconcileReport:
    """See `FileDatastore.reconcile_files`."""
    from skybutler.datastore._file_datastore import is_external

    transport = store.transport
    report = ReconcileReport()
    for path in trash_paths:
        # a key that leaves the root (from an old import) is not the datastore's to delete
        deletable = path not in live_paths and not is_external(path) and key_problem(path) is None
        if deletable and _try(report, path, partial(transport.delete, path)):
            report.removed_trash.append(path)
    now = time.time()
    abandoned: dict[object, str] = {}
    """Identity → staging key, for staged files of puts never registered (past the grace period)."""
    drop: list[str] = []
    for key in list(transport.keys(staging)):
        if store.age(key, now) < grace_seconds:
            continue
        final = registered.get(key[len(staging) :].split(".", 1)[0])
        if final is None:
            identity = transport.identity(key)
            if identity is not None:
                abandoned[identity] = key
            drop.append(key)
        elif _try(report, final, partial(store.finish, key, final)):
            report.promoted.append(final)
    keep = _finish_pending(store, registered_pending, now, grace_seconds, report)
    present = set()
    keys = list(transport.keys())
    nested = other_repositories(keys, live_paths)
    for key in keys:
        if is_repository_file(key) or (nested and key.startswith(nested)):
            continue
        present.add(key)
        if key in live_paths:
            continue
        if abandoned and transport.identity(key) in abandoned:  # the claim of a put never registered
            if _try(report, key, partial(transport.delete, key)):
                report.removed_staging.append(key)
            continue
        # A young unknown file may be a put in flight (object stores write at the final key).
        if transport.can_create and transport.owner(key) is not None:
            old = store.age(key, now) >= grace_seconds  # written by a put that never registered it
            if old and _try(report, key, partial(transport.delete, key)):
                report.removed_staging.append(key)
            continue
        report.unknown.append(key)
        if (remove_unknown or ".tmp-" in key) and store.age(key, now) >= grace_seconds:
            _try(report, key, partial(transport.delete, key))
    for key in drop:
        if _try(report, key, partial(transport.delete, key)):
            report.removed_staging.append(key)
    pending = scan_pending(transport, now)  # apart: an owner may still register these, until the area expires
    report.pending = pending.live
    for key in pending.expired:
        if key in keep:  # a registered dataset's bytes: never unknown
            report.pending.append(key)
            continue
        report.unknown.append(key)
        if remove_unknown:
            _try(report, key, partial(transport.delete, key))
    report.missing = sorted(p for p in live_paths - present if not is_external(p))
    return report


def _finish_pending(
    store: FileDatastore,
    registered_pending: Mapping[str, ArtifactInfo],
    now: float,
    grace_seconds: float,
    report: ReconcileReport,
) -> set[str]:
    """Move the pending files of registered datasets to their final paths; return the keys kept (still the
    only good copy of a registered dataset's bytes, or too young to touch)."""
    from skybutler.datastore._checked_reads import verify_artifact

    transport = store.transport
    keep = set()
    for key, artifact in sorted(registered_pending.items()):
        if store.age(key, now) < grace_seconds:  # its merge or commit may still be promoting it
            keep.add(key)
            continue
        problem = verify_artifact(transport, key, artifact)
        if problem == "missing":  # promoted meanwhile
            continue
        if problem is not None:  # not this dataset's bytes (a task run again after its merge, say)
            found = verify_artifact(transport, artifact.path, artifact)
            if found is not None:
                report.problems.append(
                    f"{artifact.path}: the file of a registered dataset is {found}, and {key}, named after it, "
                    f"{problem}: neither is its file. Both were kept; `skybutler verify` lists the dataset."
                )
            continue
        if _try(report, artifact.path, partial(store.finish, key, artifact.path)):
            report.promoted.append(artifact.path)
        else:
            keep.add(key)
    return keep


def unknown_keys(transport: Transport, live_paths: set[str]) -> list[str]:
    """See `FileDatastore.unknown_keys`."""
    keys = list(transport.keys())
    nested = other_repositories(keys, live_paths)
    return sorted(
        key
        for key in keys
        if key not in live_paths and not is_repository_file(key) and not (nested and key.startswith(nested))
    )


def other_repositories(keys: Iterable[str], live_paths: set[str]) -> tuple[str, ...]:
    """The folders (as key prefixes ending in ``/``) of other repositories among ``keys``: each holds a
    ``butler.yaml`` that no dataset refers to (a dataset's own file of that name is a dataset's).

    Their files belong to that repository, however they are named, so `verify` does not list them as
    unknown and ``reconcile --remove-unknown`` does not delete them (issue 19: it deleted a nested
    repository's ``butler.yaml`` and registry, leaving it unopenable).
    """
    return tuple(key[: -len("butler.yaml")] for key in keys if key.endswith("/butler.yaml") and key not in live_paths)


def _try(report: ReconcileReport, path: str, action: Callable[[], object]) -> bool:
    """Run ``action``; on our error or an OS error, note it in ``report.problems`` and return False."""
    try:
        action()
    except (SkyButlerError, OSError) as exc:
        report.problems.append(f"{path}: {exc}")
        return False
    return True
