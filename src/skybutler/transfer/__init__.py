"""Moving datasets in and out of a repository: ingest of existing files, YAML import/export, repo-to-repo transfer.

Each concept is its own module (`_ingest`, `_raws`, `_export`, `_import`, `_repo_transfer`, ...); the methods of
`DirectButler` delegate here.  Every entry point takes a `Registry` and a `Datastore`, never a butler: this layer
sits below `skybutler.butler` and knows nothing of it (checks that belong to a butler, such as whether it may
write, are made there).
"""

from __future__ import annotations

from skybutler.transfer._export import EXPORT_FORMAT_VERSION, ExportReport, export_datasets
from skybutler.transfer._import import ImportReport, import_export
from skybutler.transfer._ingest import FileDataset, IngestReport, ingest_files
from skybutler.transfer._modes import TRANSFER_MODES
from skybutler.transfer._raws import ingest_raws
from skybutler.transfer._repo_transfer import transfer_datasets
from skybutler.transfer._translators import (
    GenericTranslator,
    MetadataTranslator,
    ObservationInfo,
    metadata_translators,
    observation_records,
)

__all__ = [
    "EXPORT_FORMAT_VERSION",
    "TRANSFER_MODES",
    "ExportReport",
    "FileDataset",
    "GenericTranslator",
    "ImportReport",
    "IngestReport",
    "MetadataTranslator",
    "ObservationInfo",
    "export_datasets",
    "import_export",
    "ingest_files",
    "ingest_raws",
    "metadata_translators",
    "observation_records",
    "transfer_datasets",
]
