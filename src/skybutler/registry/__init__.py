"""The registry: SQL tables of dimensions, dataset types, collections and datasets (SQLAlchemy Core)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skybutler.registry._collections import CollectionRecord, CollectionType, is_glob
from skybutler.registry._data_ids import DataIdResolver
from skybutler.registry._dataset_types import StoredDatasetType
from skybutler.registry._datasets import DatasetRow, NewDataset
from skybutler.registry._engines import Database, LostCommitError
from skybutler.registry._explain import is_unique_violation
from skybutler.registry._registry import ExplainedDataId, Registry
from skybutler.registry._schema import SCHEMA_VERSION
from skybutler.registry._template import create_registry
from skybutler.registry._tokens import Grant, TokenRecord, Tokens, parse_grants

if TYPE_CHECKING:
    from skybutler.registry._provenance import Edge, Reached
    from skybutler.registry._run_records import Environment, RunRecord

#: Provenance names, imported on first use (most commands never touch them).
_LAZY = {
    "Edge": "skybutler.registry._provenance",
    "Environment": "skybutler.registry._run_records",
    "Reached": "skybutler.registry._provenance",
    "RunRecord": "skybutler.registry._run_records",
}

__all__ = [
    "SCHEMA_VERSION",
    "CollectionRecord",
    "CollectionType",
    "DataIdResolver",
    "Database",
    "DatasetRow",
    "Edge",
    "Environment",
    "ExplainedDataId",
    "Grant",
    "LostCommitError",
    "NewDataset",
    "Reached",
    "Registry",
    "RunRecord",
    "StoredDatasetType",
    "TokenRecord",
    "Tokens",
    "create_registry",
    "is_glob",
    "is_unique_violation",
    "parse_grants",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'skybutler.registry' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
