"""Moving datasets in and out of a repository: ingest of existing files, YAML import/export, repo-to-repo transfer.

Each concept is its own module (`_ingest`, `_raws`, `_export`, `_import`, `_repo_transfer`, ...); the `Butler`
facade's methods delegate here.  Modules take the butler's registry and datastore (a `Butler` only for typing).
"""

from __future__ import annotations

from skybutler.transfer._export import EXPORT_FORMAT_VERSION, ExportReport, export_datasets
from skybutler.transfer._import import ImportReport, import_export

__all__ = ["EXPORT_FORMAT_VERSION", "ExportReport", "ImportReport", "export_datasets", "import_export"]
