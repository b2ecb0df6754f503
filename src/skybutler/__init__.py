"""Store and find astronomical datasets by dataset type, data ID and collection."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from skybutler import _bytecode

# First thing, so that every skybutler module imported after this one (its errors included) is compiled once
# per user, not once per process, where Python writes no bytecode itself (an editable install with
# PYTHONDONTWRITEBYTECODE): in a library process too (a pipeline's short tasks each import the butler).
_bytecode.install()

from skybutler.errors import SkyButlerError  # noqa: E402 (after the hook: its code comes from the cache)

if TYPE_CHECKING:
    from skybutler.butler import Butler, DeferredDatasetHandle
    from skybutler.datasets import DatasetRef, DatasetType, StorageClass
    from skybutler.dimensions import DataCoordinate, DimensionRecord, DimensionUniverse, Timespan
    from skybutler.registry import CollectionType
    from skybutler.workers import WorkerButler

_LAZY = {
    "Butler": "skybutler.butler",
    "CollectionType": "skybutler.registry",
    "DataCoordinate": "skybutler.dimensions",
    "DatasetRef": "skybutler.datasets",
    "DatasetType": "skybutler.datasets",
    "DeferredDatasetHandle": "skybutler.butler",
    "DimensionRecord": "skybutler.dimensions",
    "DimensionUniverse": "skybutler.dimensions",
    "StorageClass": "skybutler.datasets",
    "Timespan": "skybutler.dimensions",
    "WorkerButler": "skybutler.workers",
}

__all__ = [
    "Butler",
    "CollectionType",
    "DataCoordinate",
    "DatasetRef",
    "DatasetType",
    "DeferredDatasetHandle",
    "DimensionRecord",
    "DimensionUniverse",
    "SkyButlerError",
    "StorageClass",
    "Timespan",
    "WorkerButler",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'skybutler' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
