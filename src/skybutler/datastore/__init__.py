"""The datastore maps datasets to artifacts through transports and formatters (never the registry)."""

from __future__ import annotations

from skybutler.datastore._file_datastore import STAGING, FileDatastore, ReconcileReport, Staged, is_external
from skybutler.datastore._templates import FileTemplate, escape_segment

__all__ = ["STAGING", "FileDatastore", "FileTemplate", "ReconcileReport", "Staged", "escape_segment", "is_external"]
