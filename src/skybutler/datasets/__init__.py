"""The dataset data model: storage classes, dataset types and refs (no SQL, no I/O)."""

from __future__ import annotations

from skybutler.datasets._artifact import ArtifactInfo
from skybutler.datasets._dataset_type import DatasetType
from skybutler.datasets._log_records import LogEntry, LogRecords
from skybutler.datasets._ref import (
    DatasetIdMode,
    DatasetRef,
    as_uuid,
    dataset_id_maker,
    make_dataset_id,
    random_dataset_id,
    refs_from_rows,
    trusted_ref,
)
from skybutler.datasets._storage_class import StorageClass, storage_classes

__all__ = [
    "ArtifactInfo",
    "DatasetIdMode",
    "DatasetRef",
    "DatasetType",
    "LogEntry",
    "LogRecords",
    "StorageClass",
    "as_uuid",
    "dataset_id_maker",
    "make_dataset_id",
    "random_dataset_id",
    "refs_from_rows",
    "storage_classes",
    "trusted_ref",
]
