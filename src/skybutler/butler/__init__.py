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

__all__ = ["Butler", "ButlerCollections", "DeferredDatasetHandle", "DirectButler", "butler_implementations"]


def __getattr__(name: str) -> Any:
    if name == "DirectButler":
        from skybutler.butler._direct import DirectButler

        return DirectButler
    raise AttributeError(f"module 'skybutler.butler' has no attribute {name!r}")
