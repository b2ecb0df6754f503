"""Request models of ingest, export and import through the server (issue 20), shared by server and client.

Kept beside `skybutler.wire` (same layer) so that module stays small.  Files reach the server's storage the way
a put's do: the client asks for a pending upload area (`StageRequest`), uploads each file to its signed URL,
then names the area in the `IngestRequest` or `ImportRequest`; the server registers what arrived and deletes
the area, whatever the outcome.  An export comes back as the bytes of the file or archive the server wrote.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from skybutler.wire import RefModel, _Model

__all__ = ["ExportRequest", "ImportRequest", "IngestItemModel", "IngestRequest", "StageRequest", "StageResponse"]


class StageRequest(_Model):
    """Files a client will upload into one pending area before an ingest (``run``) or an import (no run)."""

    run: str | None = None
    names: list[str] = Field(max_length=100_000, description="File names; only their extensions are kept.")


class StageResponse(_Model):
    """The pending area and, per file, its key there and a signed one-time upload URL."""

    area: str
    keys: list[str]
    urls: list[str]


class IngestItemModel(_Model):
    """One staged file and what it holds (``refs``, or ``dataset_type`` with ``data_id``)."""

    key: str
    refs: list[RefModel] = []
    dataset_type: str | None = None
    data_id: dict[str, Any] | None = None
    formatter: str | None = None
    size: int | None = Field(
        default=None, description="Bytes the client uploaded; a staged file of another size is refused."
    )
    records: list[tuple[str, dict[str, Any]]] = Field(
        default=[], description="(element, fields) the datasets stand on; new ones need admin."
    )


class IngestRequest(_Model):
    """Register staged files with `Butler.ingest`'s options; the area's files are deleted afterwards."""

    area: str
    datasets: list[IngestItemModel]
    run: str | None = None
    skip_existing: bool = False
    id_mode: str = "random"
    checksum: bool | None = None


class ImportRequest(_Model):
    """Import a staged export file or archive (``key`` in ``area``)."""

    area: str
    key: str
    skip_existing: bool = False
    size: int | None = Field(
        default=None, description="Bytes the client uploaded; a staged file of another size is refused."
    )


class ExportRequest(_Model):
    """`Butler.export` on the server; ``name``'s extension picks the format (``.zip``: with the files)."""

    name: str
    refs: list[RefModel] | None = None
    collections: list[str] | None = None
    dataset_types: list[str] | None = None
    where: str = ""
    transfer: str | None = None
    include_dimensions: bool = True
