"""The datastore maps datasets to artifacts (files through transports and formatters, or objects in memory).

It never touches the registry.  `Datastore` is the interface the butler uses; `FileDatastore`,
`MemoryDatastore` and `ChainedDatastore` implement it, and `open_datastore` builds the one a repository's
configuration describes.
"""

from __future__ import annotations

from skybutler.datastore._base import Datastore, LeafDatastore, Prepared, ReconcileReport
from skybutler.datastore._chained import ChainedDatastore, open_datastore
from skybutler.datastore._file_datastore import STAGING, FileDatastore, Staged, is_external, with_suffix
from skybutler.datastore._keys import RESERVED_ROOT_NAMES, RootLinks, is_plain_key, key_problem
from skybutler.datastore._memory import MEMORY_FORMATTER, MemoryDatastore
from skybutler.datastore._pending import (
    DEFAULT_EXPIRY,
    PENDING,
    PendingArea,
    PendingScan,
    pending_ids,
    scan_pending,
    verify_pending,
    write_pending,
)
from skybutler.datastore._templates import FileTemplate, escape_segment

__all__ = [
    "DEFAULT_EXPIRY",
    "MEMORY_FORMATTER",
    "PENDING",
    "RESERVED_ROOT_NAMES",
    "STAGING",
    "ChainedDatastore",
    "Datastore",
    "FileDatastore",
    "FileTemplate",
    "LeafDatastore",
    "MemoryDatastore",
    "PendingArea",
    "PendingScan",
    "Prepared",
    "ReconcileReport",
    "RootLinks",
    "Staged",
    "escape_segment",
    "is_external",
    "is_plain_key",
    "key_problem",
    "open_datastore",
    "pending_ids",
    "scan_pending",
    "verify_pending",
    "with_suffix",
    "write_pending",
]
