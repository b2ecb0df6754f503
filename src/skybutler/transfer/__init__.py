"""Moving datasets in and out of a repository: ingest of existing files, YAML import/export, repo-to-repo transfer.

Each concept is its own module (`_ingest`, `_raws`, `_export`, `_import`, `_repo_transfer`, ...); the `Butler`
facade's methods delegate here.  Modules take the butler's registry and datastore (a `Butler` only for typing).
"""

from __future__ import annotations

__all__: list[str] = []
