"""Request models of ingest, export and import through the server (issue 20), shared by server and client.

Kept beside `skybutler.wire` (same layer) so that module stays small.  Files reach the server's storage the way
a put's do: the client asks for a pending upload area (`StageRequest`), uploads each file to its signed URL,
then names the area in the `IngestRequest` or `ImportRequest`; the server registers what arrived and deletes
the area, whatever the outcome.  An export comes back as its document and the files it names, each with a
signed URL the client downloads from (`ExportFilesResponse`); the client writes the archive or directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from skybutler.wire import ArtifactModel, DatasetTypeModel, RefModel, _Model

if TYPE_CHECKING:
    import uuid

    from skybutler.datasets import DatasetRef
    from skybutler.transfer import Associations

__all__ = [
    "AssociationsModel",
    "CertifiedModel",
    "ExportFileModel",
    "ExportFilesResponse",
    "ExportRequest",
    "ImportRequest",
    "IngestItemModel",
    "IngestRequest",
    "SourceRequest",
    "SourceResponse",
    "StageRequest",
    "StageResponse",
    "StoredIngestRequest",
    "associations_from_wire",
    "associations_to_wire",
]


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


class CertifiedModel(_Model):
    """Datasets certified over one validity range ``[begin, end)`` (TAI ns; None: unbounded)."""

    begin: int | None
    end: int | None
    ids: list[str]


class AssociationsModel(_Model):
    """Tags and certifications a transfer carries (`skybutler.transfer.Associations`), datasets by ID."""

    docs: dict[str, str | None] = {}
    tagged: dict[str, list[str]] = {}
    certified: dict[str, list[CertifiedModel]] = {}


def associations_to_wire(plan: Associations) -> AssociationsModel:
    """`Associations` on the wire."""
    return AssociationsModel(
        docs=dict(plan.docs),
        tagged={name: [r.id.hex for r in refs] for name, refs in plan.tagged.items()},
        certified={
            name: [
                CertifiedModel(begin=span.begin, end=span.end, ids=[r.id.hex for r in refs])
                for span, refs in spans.items()
            ]
            for name, spans in plan.certified.items()
        },
    )


def associations_from_wire(model: AssociationsModel, refs: Mapping[uuid.UUID, DatasetRef]) -> Associations:
    """`Associations` from the wire, of the datasets ``refs`` (by ID); an ID not among them is a `DataIdError`."""
    import uuid

    from skybutler.dimensions import Timespan
    from skybutler.errors import DataIdError
    from skybutler.transfer import Associations

    def ref(text: str) -> DatasetRef:
        try:
            return refs[uuid.UUID(text)]
        except (KeyError, ValueError):
            raise DataIdError(f"Dataset {text!r} is associated but is not among the datasets sent.") from None

    return Associations(
        docs=dict(model.docs),
        tagged={name: [ref(i) for i in ids] for name, ids in model.tagged.items()},
        certified={
            name: {Timespan(c.begin, c.end): [ref(i) for i in c.ids] for c in spans}
            for name, spans in model.certified.items()
        },
    )


class IngestRequest(_Model):
    """Register staged files with `Butler.ingest`'s options; the area's files are deleted afterwards."""

    area: str
    datasets: list[IngestItemModel]
    run: str | None = None
    skip_existing: bool = False
    id_mode: str = "random"
    checksum: bool | None = None
    associations: AssociationsModel | None = Field(
        default=None, description="A transfer's tags and certifications (write on each collection)."
    )


class StoredIngestRequest(_Model):
    """Ingest files already in the server's datastore storage (``key``: a path relative to its root, or a URI
    under it), without an upload; ``transfer`` ``auto`` registers them where they are when it can."""

    datasets: list[IngestItemModel]
    run: str | None = None
    transfer: Literal["auto", "copy"] = "auto"
    skip_existing: bool = False
    id_mode: str = "random"
    checksum: bool | None = None


class SourceRequest(_Model):
    """What a transfer out of this repository needs to know of ``refs`` (read on their runs)."""

    refs: list[RefModel] = Field(max_length=1_000_000)
    records: bool = True
    collections: list[str] | None = Field(
        default=None, description="Carry tags and certifications of these collections (read on each reached)."
    )


class SourceResponse(_Model):
    """`skybutler.transfer.SourceDatasets` on the wire: files come with signed URLs (or inline when small)."""

    dataset_types: list[DatasetTypeModel]
    artifacts: dict[str, ArtifactModel]
    records: list[tuple[str, dict[str, Any]]] = []
    associations: AssociationsModel = AssociationsModel()
    provenance: dict[str, Any] = {}


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
    files: bool = True
    """``/transfer/export/files``: list the files (checked as for a ``.zip`` export); false for a document alone."""


class ExportFileModel(_Model):
    """One file of an export: the dataset it belongs to, and how to read it (signed URL, or inline when small)."""

    ref: RefModel
    """Also what the client looks up (``/datasets/lookup``) for a fresh URL once the first nears its expiry."""
    artifact: ArtifactModel


class ExportFilesResponse(_Model):
    """An export's document (``.yaml``) and provenance as the server wrote them, and the files they name."""

    document: str
    provenance: str
    files: list[ExportFileModel]
    report: dict[str, int | float]
    """`ExportReport`'s counts (``datasets``, ``dimension_records``, ...); the client adds its files'."""
    url_lifetime: int
    """Seconds the signed URLs stay valid from this answer."""
