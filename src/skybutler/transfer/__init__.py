"""Moving datasets in and out of a repository: ingest of existing files, YAML import/export, repo-to-repo transfer.

Each concept is its own module (`_ingest`, `_raws`, `_export`, `_import`, `_repo_transfer`, `_source`, ...);
the methods of `DirectButler` delegate here.  Every entry point takes a `Registry` and a `Datastore`, never a
butler (or, for a transfer, a `TransferSource`): this layer sits below `skybutler.butler` and knows nothing of
it (checks that belong to a butler, such as whether it may write, are made there).
"""

from __future__ import annotations

from skybutler.transfer._associations import Associations, apply_associations, check_associations, find_associations
from skybutler.transfer._export import EXPORT_FORMAT_VERSION, ExportReport, export_datasets
from skybutler.transfer._import import import_export
from skybutler.transfer._import_plan import ImportPlan, ImportReport
from skybutler.transfer._ingest import FileDataset, IngestReport, ingest_files
from skybutler.transfer._modes import TRANSFER_MODES, SourceFile
from skybutler.transfer._raws import ingest_raws
from skybutler.transfer._repo_transfer import transfer_datasets
from skybutler.transfer._source import (
    RecordKey,
    RepositorySource,
    SourceDatasets,
    TransferSource,
    check_source_paths,
    records_needed,
    source_artifacts,
)
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
    "Associations",
    "ExportReport",
    "FileDataset",
    "GenericTranslator",
    "ImportPlan",
    "ImportReport",
    "IngestReport",
    "MetadataTranslator",
    "ObservationInfo",
    "RecordKey",
    "RepositorySource",
    "SourceDatasets",
    "SourceFile",
    "TransferSource",
    "apply_associations",
    "check_associations",
    "check_source_paths",
    "export_datasets",
    "find_associations",
    "import_export",
    "ingest_files",
    "ingest_raws",
    "metadata_translators",
    "observation_records",
    "records_needed",
    "source_artifacts",
    "transfer_datasets",
]
