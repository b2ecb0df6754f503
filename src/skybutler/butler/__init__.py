"""The butler: the one object science code talks to.

`Butler` is the abstract interface every implementation answers; ``Butler(root, ...)`` opens a repository with
the implementation chosen for ``root`` (`butler_implementations`), by default `DirectButler`, which works on the
database and storage itself.  Its helpers (collections, calibration times, writes, transfers, maintenance,
repository files) live beside it and are private to this folder.  `DirectButler` is imported on first use, so
code that only holds the interface (a remote client) does not load the registry and datastore layers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skybutler.butler._collections_interface import ButlerCollections
from skybutler.butler._deferred import DeferredDatasetHandle
from skybutler.butler._implementations import butler_implementations
from skybutler.butler._interface import Butler

if TYPE_CHECKING:
    from skybutler.butler._direct import DirectButler
    from skybutler.butler._environment import make_environment, writer_origin
    from skybutler.butler._logs import LogCapture
    from skybutler.butler._maintenance import VerifyReport
    from skybutler.butler._provenance import Invalidation, LineageNode, RunDiff, diff_records, input_ids
    from skybutler.butler._repository import migrate_repository, read_config

__all__ = [
    "Butler",
    "ButlerCollections",
    "DeferredDatasetHandle",
    "DirectButler",
    "Invalidation",
    "LineageNode",
    "LogCapture",
    "RunDiff",
    "VerifyReport",
    "butler_implementations",
    "diff_records",
    "input_ids",
    "make_environment",
    "migrate_repository",
    "read_config",
    "writer_origin",
]

#: Names imported on first use: they bring in the registry and datastore layers.
_LAZY = {
    "DirectButler": "skybutler.butler._direct",
    "Invalidation": "skybutler.butler._provenance",
    "LineageNode": "skybutler.butler._provenance",
    "LogCapture": "skybutler.butler._logs",
    "RunDiff": "skybutler.butler._provenance",
    "VerifyReport": "skybutler.butler._maintenance",
    "diff_records": "skybutler.butler._provenance",
    "input_ids": "skybutler.butler._provenance",
    "make_environment": "skybutler.butler._environment",
    "writer_origin": "skybutler.butler._environment",
    "migrate_repository": "skybutler.butler._repository",
    "read_config": "skybutler.butler._repository",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'skybutler.butler' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
