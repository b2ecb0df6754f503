"""What a write does when its commit lost the connection: look whether it was saved, then keep or drop its files.

`LostCommitError` means the server may have committed before the connection broke.  Every writer that
stages files before its commit (put, import, ingest and repo transfer, which goes through ingest) must
then not simply delete them: if the datasets were registered, deleting their files would lose them.  One
function decides for all of them, so that they answer alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from skybutler.errors import StorageError

if TYPE_CHECKING:
    from skybutler.registry import LostCommitError, Registry

__all__ = ["settle_lost_commit"]


def settle_lost_commit(
    registry: Registry,
    exc: LostCommitError,
    dataset_ids: Sequence[uuid.UUID],
    what: str,
    discard: Callable[[], None],
) -> None:
    """After ``exc`` ended the commit of ``what`` (``"put"``, ``"import"``...), which registered ``dataset_ids``.

    Returns if the commit went through: the caller then finishes as after any commit (it promotes its
    staged files).  Otherwise raises a `StorageError`: after calling ``discard`` (which removes the staged
    files) if, after reconnecting, none of the datasets is registered; keeping the files, and saying to run
    reconcile (which promotes them if the datasets turn out to be registered and deletes them otherwise),
    if the registry cannot answer yet.  A commit is atomic, so one dataset tells for all; with none to look
    for, ``exc`` itself is raised (it says the change may or may not have been saved).
    """
    if not dataset_ids:
        raise exc
    try:
        saved = bool(registry.datasets.existing([dataset_ids[0]]))
    except StorageError:  # the server is not back yet
        raise StorageError(
            f"{exc} The {what}'s files are kept: once the registry answers, run `skybutler reconcile` "
            "(butler.reconcile()), which moves them into place if the datasets were registered and "
            "deletes them otherwise."
        ) from exc
    if saved:
        return
    discard()
    raise StorageError(
        f"The connection to the registry database was lost while committing the {what}; after reconnecting, "
        f"none of its {len(dataset_ids)} dataset(s) is registered, and the files it staged were removed: "
        f"retry the {what}."
    ) from exc
