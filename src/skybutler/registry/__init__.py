"""The registry: SQL tables of dimensions, dataset types, collections and datasets (SQLAlchemy Core)."""

from __future__ import annotations

from skybutler.registry._collections import CollectionRecord, CollectionType, is_glob
from skybutler.registry._data_ids import DataIdResolver
from skybutler.registry._dataset_types import StoredDatasetType
from skybutler.registry._datasets import DatasetRow, NewDataset
from skybutler.registry._engines import Database, LostCommitError
from skybutler.registry._explain import is_unique_violation
from skybutler.registry._registry import ExplainedDataId, Registry
from skybutler.registry._schema import SCHEMA_VERSION
from skybutler.registry._tokens import Grant, TokenRecord, Tokens, parse_grants

__all__ = [
    "SCHEMA_VERSION",
    "CollectionRecord",
    "CollectionType",
    "DataIdResolver",
    "Database",
    "DatasetRow",
    "ExplainedDataId",
    "Grant",
    "LostCommitError",
    "NewDataset",
    "Registry",
    "StoredDatasetType",
    "TokenRecord",
    "Tokens",
    "is_glob",
    "is_unique_violation",
    "parse_grants",
]
