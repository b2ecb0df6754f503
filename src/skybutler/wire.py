"""The remote butler's wire format: pydantic models shared by `skybutler.server` and `skybutler.client`.

One module, so the client and the server cannot drift apart, and so the client never imports FastAPI
(DESIGN §9.3).  Everything on the wire is JSON: dataset IDs as hex strings, data IDs as mappings of
dimension name to value, times as TAI nanoseconds (the client converts what users give before sending).
Query results stream as newline-delimited JSON (`QUERY_MEDIA_TYPE`): one `QueryHeader` line, then one
compact array of rows per line (``[*required data ID values, id_hex, run_index, type_index]`` for
datasets), so that a client reads
100 000 refs without building 100 000 pydantic objects.
"""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from skybutler.datasets import DatasetRef, DatasetType
from skybutler.dimensions import DataCoordinate, TaiInstant, to_tai_ns

if TYPE_CHECKING:
    from skybutler.dimensions import DimensionUniverse

__all__ = [
    "API_PREFIX",
    "INLINE_LIMIT",
    "QUERY_MEDIA_TYPE",
    "ArtifactModel",
    "Bind",
    "CertifyRequest",
    "ChainRequest",
    "CollectionModel",
    "CollectionRequest",
    "CommitItem",
    "CommitRequest",
    "CompletenessRequest",
    "DatasetTypeModel",
    "DecertifyRequest",
    "DimensionRecordsRequest",
    "DirectItem",
    "DirectPutRequest",
    "ErrorModel",
    "FindRequest",
    "FindResponse",
    "HistoryRequest",
    "InlineItem",
    "InlinePutRequest",
    "InvalidatedRequest",
    "InvalidationModel",
    "LineageNodeModel",
    "LineageRequest",
    "OriginModel",
    "PrepareRequest",
    "PrepareResponse",
    "QueryCollectionsRequest",
    "QueryDataIdsRequest",
    "QueryDatasetsRequest",
    "QueryHeader",
    "RefModel",
    "RefsRequest",
    "RegisterDatasetTypeRequest",
    "RemoveRequest",
    "RunRequest",
    "ServerInfo",
    "TagRequest",
    "UploadSlot",
    "dataset_type_from_wire",
    "dataset_type_to_wire",
    "decode_bind",
    "encode_bind",
    "json_value",
    "ref_from_wire",
    "ref_to_wire",
]

API_PREFIX = "/api/v1"
"""Every endpoint's path starts with this; a server answering ``GET /api/v1/`` is a skybutler server."""
QUERY_MEDIA_TYPE = "application/x-ndjson"
INLINE_LIMIT = 64 * 1024
"""Artifacts up to this many bytes may come back inside a find response (one round trip for a small get)."""

DataIdValue = int | str
"""A data ID value on the wire (dimension keys are integers or strings)."""


_TAG = "__skybutler__"


def encode_bind(bind: dict[str, Any] | None) -> dict[str, Any] | None:
    """Bind values as JSON: sky regions and positions (issue 22's ``OVERLAPS :r``) as tagged objects.

    A sphgeom region travels as its own binary encoding (hex), a ``LonLat`` or ``UnitVector3d`` as degrees or
    its vector, an astropy ``SkyCoord`` (any frame) as ICRS degrees, a time (``Time`` in any scale, ``datetime``)
    as its exact TAI nanoseconds (`TaiInstant` on the server); `decode_bind` makes the same object again, so the
    server's query checks it exactly as a local query would.  Other values go as they are.
    """
    if not bind:
        return bind
    return {name: _encode_value(value) for name, value in bind.items()}


def _encode_value(value: Any) -> Any:
    kind = type(value)
    if kind.__module__.startswith("lsst.sphgeom"):
        if kind.__name__ == "LonLat":
            return {_TAG: "lonlat", "deg": [value.getLon().asDegrees(), value.getLat().asDegrees()]}
        if kind.__name__ == "UnitVector3d":
            return {_TAG: "vector", "xyz": [value.x(), value.y(), value.z()]}
        return {_TAG: "region", "hex": value.encode().hex()}
    if kind.__name__ == "SkyCoord":
        icrs = value.icrs
        return {_TAG: "skycoord", "ra": icrs.ra.deg.tolist(), "dec": icrs.dec.deg.tolist()}
    if hasattr(value, "jd1") or isinstance(value, datetime.datetime | TaiInstant):  # exact, whatever the scale
        return {_TAG: "time", "tai_ns": to_tai_ns(value)}
    return value


def decode_bind(bind: Any) -> Any:
    """The inverse of `encode_bind` (values that are not tagged objects pass through, live objects too)."""
    if not isinstance(bind, dict):
        return bind
    return {name: _decode_value(name, value) for name, value in bind.items()}


def _decode_value(name: str, value: Any) -> Any:
    if not isinstance(value, dict) or _TAG not in value:
        return value
    kind = value[_TAG]
    if kind == "time" and type(value.get("tai_ns")) is int:
        return TaiInstant(value["tai_ns"])
    try:
        if kind == "skycoord":
            from astropy.coordinates import SkyCoord

            return SkyCoord(value["ra"], value["dec"], unit="deg", frame="icrs")
        import lsst.sphgeom as sphgeom

        if kind == "lonlat":
            return sphgeom.LonLat.fromDegrees(*value["deg"])
        if kind == "vector":
            return sphgeom.UnitVector3d(*value["xyz"])
        if kind == "region":
            return sphgeom.Region.decode(bytes.fromhex(value["hex"]))
    except Exception as exc:  # malformed: a 422 naming the bind, not a server error
        raise ValueError(f"bind {name!r}: not a valid {kind} ({type(exc).__name__}: {exc})") from None
    raise ValueError(f"bind {name!r}: unknown tagged value kind {kind!r} (region, lonlat, vector, skycoord, time)")


Bind = Annotated[
    dict[str, Any] | None,
    BeforeValidator(decode_bind),
    PlainSerializer(encode_bind, return_type=dict[str, Any] | None),
]
"""A query's bind values: JSON, plus sky regions and positions as tagged objects (`encode_bind`)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorModel(_Model):
    """The body of every error answer: our error ``code`` maps back to the same exception class."""

    code: str = Field(description="The `SkyButlerError` code (docs/errors.md), e.g. 'dataset-not-found'.")
    message: str
    type: str = Field(description="The exception class name, for humans.")


class ServerInfo(_Model):
    """``GET /api/v1/``: what a client needs to configure itself."""

    server: Literal["skybutler"] = "skybutler"
    version: str
    api: int = 1
    universe: str = Field(description="The dimension universe, as YAML.")
    formats: list[str] = Field(description="Formatter names the repository may write.")
    storage_classes: list[str]
    checksum: str = Field(description="Checksum algorithm of new artifacts ('none': none).")
    inline_limit: int = INLINE_LIMIT
    user: str | None = Field(default=None, description="Who the token names (None: no token given).")
    grants: list[str] = Field(default_factory=list)


class DatasetTypeModel(_Model):
    """A `DatasetType`."""

    name: str
    dimensions: list[str]
    storage_class: str
    is_calibration: bool = False
    format: str | None = None


class RefModel(_Model):
    """A `DatasetRef`: the data ID by required dimension."""

    id: str
    dataset_type: str
    data_id: dict[str, DataIdValue]
    run: str


class ArtifactModel(_Model):
    """An artifact record (`ArtifactInfo`) and how to fetch its bytes."""

    path: str
    formatter: str
    storage_class: str
    size: int
    checksum: str | None
    component: str = ""
    datastore: str = ""
    uri: str | None = Field(default=None, description="Where the datastore keeps it (not necessarily reachable).")
    url: str | None = Field(default=None, description="A short-lived signed URL of the bytes (HTTP Range works).")
    inline: str | None = Field(default=None, description="The bytes themselves, base64, for small artifacts.")


class FindRequest(_Model):
    """Find one dataset by ref ID, or by dataset type + data ID along collections."""

    dataset_type: str
    data_id: dict[str, Any] | None = None
    collections: list[str] | None = None
    id: str | None = Field(default=None, description="Look up this dataset ID instead of a data ID.")
    at: int | None = Field(default=None, description="Valid time, TAI ns (calibrations).")
    as_of: int | None = Field(default=None, description="Record time, TAI ns (calibrations).")
    artifacts: bool = Field(default=False, description="Also answer the artifacts and their signed URLs.")
    inline: bool = Field(default=False, description="Send small artifacts' bytes in the answer.")


class FindResponse(_Model):
    """The dataset found (its parent type's ref) and, on request, its artifacts in read order."""

    ref: RefModel
    dataset_type: DatasetTypeModel
    component: str | None = None
    artifacts: list[ArtifactModel] = Field(default_factory=list)
    via_server: bool = Field(default=False, description="No URL reaches the bytes: fetch them from the server.")


class RefsRequest(_Model):
    """Dataset IDs (with their types) for bulk reads, checks and removal."""

    refs: list[RefModel]
    artifacts: bool = True
    inline: bool = True


class RemoveRequest(_Model):
    """Datasets to remove (``even_if_used``: also those others record as an input; the edges are kept)."""

    refs: list[RefModel]
    even_if_used: bool = False


class RegisterDatasetTypeRequest(_Model):
    """`Butler.register_dataset_type`."""

    name: str
    dimensions: list[str]
    storage_class: str
    is_calibration: bool = False
    format: str | None = None


class PrepareRequest(_Model):
    """First half of a put: the server makes the refs and signed upload URLs, the client writes the files."""

    dataset_type: str
    run: str
    data_ids: list[dict[str, Any]]
    id_mode: str | None = None
    inputs: list[list[str]] | None = Field(default=None, description="Checked here too: refused before uploads.")


class UploadSlot(_Model):
    """Where one new dataset's file goes and how it must be written."""

    ref: RefModel
    formatter: str
    storage_class: str
    staging_key: str
    upload_url: str | None = Field(description="Signed PUT URL; None: upload through the server.")


class PrepareResponse(_Model):
    """The slots of a prepared put, in the order of the request's data IDs."""

    dataset_type: DatasetTypeModel
    checksum: str
    slots: list[UploadSlot]
    expires: int = Field(description="Unix seconds after which the upload URLs stop working.")


class DirectItem(_Model):
    """One dataset's bytes sent through the server (datastores without files: objects in memory)."""

    data_id: dict[str, Any]
    formatter: str
    data: str = Field(description="The serialized object, base64.")


class DirectPutRequest(_Model):
    """A put whose bytes go through the server, read there with the named formatter."""

    dataset_type: str
    run: str
    items: list[DirectItem]
    id_mode: str | None = None
    inputs: list[list[str]] | None = None
    origin: OriginModel | None = None


class CommitItem(_Model):
    """One uploaded file, as its writer measured it."""

    id: str
    data_id: dict[str, DataIdValue]
    formatter: str
    storage_class: str
    size: int
    checksum: str | None


class CommitRequest(_Model):
    """Second half of a put: register uploaded files (checked against size and checksum) in one transaction."""

    dataset_type: str
    run: str
    items: list[CommitItem]
    inputs: list[list[str]] | None = Field(default=None, description="Per item, the IDs of the datasets used.")
    origin: OriginModel | None = Field(default=None, description="The writer's process, for the run's record.")


class InlineItem(_Model):
    """One small dataset's file, sent with its put (one round trip), as its writer measured it."""

    data_id: dict[str, Any]
    formatter: str
    storage_class: str
    size: int
    checksum: str | None
    data: str = Field(max_length=4 * -(-INLINE_LIMIT // 3), description="The file's bytes, base64.")


class InlinePutRequest(_Model):
    """A put of small files in one request: checked, written and registered as a commit does (all or none)."""

    dataset_type: str
    run: str
    items: list[InlineItem]
    id_mode: str | None = None
    inputs: list[list[str]] | None = None
    origin: OriginModel | None = None


class QueryDatasetsRequest(_Model):
    """`Butler.query_datasets`."""

    dataset_types: list[str]
    collections: list[str] | None = None
    where: str = ""
    bind: Bind = None
    data_id: dict[str, Any] | None = None
    find_first: bool = True
    order_by: list[str] | None = None
    limit: int | None = None
    at: int | None = None


class QueryDataIdsRequest(_Model):
    """`Butler.query_data_ids`."""

    dimensions: list[str]
    where: str = ""
    bind: Bind = None
    data_id: dict[str, Any] | None = None
    datasets: list[str] | None = None
    collections: list[str] | None = None
    order_by: list[str] | None = None
    limit: int | None = None
    expanded: bool = Field(default=False, description="Rows as [values, records by element] (`expanded()`).")


class DimensionRecordsRequest(_Model):
    """`Butler.query_dimension_records`."""

    element: str
    where: str = ""
    bind: Bind = None
    data_id: dict[str, Any] | None = None
    order_by: list[str] | None = None
    limit: int | None = None


class CompletenessRequest(_Model):
    """`Butler.missing`: the completeness matrix."""

    dataset_types: list[str]
    dimensions: list[str]
    collections: list[str] | None = None
    where: str = ""
    bind: Bind = None
    data_id: dict[str, Any] | None = None


class QueryHeader(_Model):
    """First line of a streamed query: how to read the rows that follow."""

    kind: Literal["datasets", "data_ids", "expanded_data_ids"]
    dataset_types: list[DatasetTypeModel] = Field(default_factory=list)
    dimensions: list[str] = Field(default_factory=list)
    runs: list[str] = Field(default_factory=list, description="Run names the rows index (datasets).")
    note: str | None = None
    explanations: list[str] = Field(default_factory=list)


class QueryCollectionsRequest(_Model):
    """`Butler.query_collections`."""

    patterns: list[str] = Field(default_factory=lambda: ["*"])
    types: list[str] | None = None
    flatten_chains: bool = False


class CollectionModel(_Model):
    """A collection: name, type (RUN, TAGGED, CHAINED, CALIBRATION) and doc."""

    name: str
    type: str
    doc: str | None = None
    children: list[str] | None = None


class CollectionRequest(_Model):
    """Register a collection."""

    name: str
    type: str = "TAGGED"
    doc: str | None = None


class ChainRequest(_Model):
    """Set, extend or shrink a CHAINED collection."""

    name: str
    children: list[str]
    mode: Literal["set", "extend", "remove"] = "set"


class TagRequest(_Model):
    """Associate datasets with, or disassociate them from, a TAGGED collection."""

    name: str
    refs: list[RefModel]


class CertifyRequest(_Model):
    """Certify calibration datasets over ``[begin, end)`` (TAI ns; None: unbounded)."""

    name: str
    refs: list[RefModel]
    begin: int | None
    end: int | None
    replace: bool = False


class DecertifyRequest(_Model):
    """Withdraw certifications over ``[begin, end)``."""

    name: str
    dataset_type: str
    begin: int | None
    end: int | None
    data_ids: list[dict[str, Any]] | None = None


# -- provenance and calibration history -----------------------------------------------------------------------
class OriginModel(_Model):
    """Who writes into a run (the client's process and software environment), for the run's record."""

    info: dict[str, Any] = Field(description="host, user_name, command, cwd, started, config.")
    environment: dict[str, Any] = Field(description="digest, python, platform, packages.")


class RunRequest(_Model):
    """Start (``finish`` false: record the writer and ``config``) or finish a run entered with ``run_context``."""

    run: str
    origin: OriginModel | None = None
    config: dict[str, Any] | None = None
    finish: bool = False


class LineageRequest(_Model):
    """`Butler.lineage` from some datasets, up (inputs) or down (what used them)."""

    refs: list[RefModel]
    direction: Literal["up", "down"] = "up"
    depth: int | None = Field(default=None, ge=0)
    dot: bool = Field(default=False, description="Answer Graphviz DOT text of the first ref's graph instead.")


class LineageNodeModel(_Model):
    """A dataset reached by a lineage walk (``ref`` None: removed since)."""

    id: str
    dataset_type: str
    depth: int
    ref: RefModel | None


class InvalidatedRequest(_Model):
    """`Butler.invalidated`."""

    collections: list[str] | None = None
    as_of: int | None = None
    dataset_types: list[str] | None = None


class InvalidationModel(_Model):
    """An output that used a calibration no longer valid at its observation time."""

    output: RefModel
    used: RefModel | str = Field(description="The calibration used (its ID alone when removed).")
    now_valid: RefModel | None
    observed: int
    collection: str


class HistoryRequest(_Model):
    """`collections.history` (``since`` None) or `collections.diff` of a CALIBRATION collection."""

    name: str
    dataset_type: str
    data_id: dict[str, Any] | None = None
    since: int | None = None
    until: int | None = None


# -- conversions -------------------------------------------------------------------------------------------------
def dataset_type_to_wire(dataset_type: DatasetType) -> DatasetTypeModel:
    """A `DatasetType` on the wire."""
    return DatasetTypeModel(
        name=dataset_type.name,
        dimensions=list(dataset_type.dimensions.required),
        storage_class=dataset_type.storage_class,
        is_calibration=dataset_type.is_calibration,
        format=dataset_type.format,
    )


def dataset_type_from_wire(model: DatasetTypeModel, universe: DimensionUniverse) -> DatasetType:
    """A `DatasetType` from the wire."""
    return DatasetType(
        model.name,
        model.dimensions,
        model.storage_class,
        universe=universe,
        is_calibration=model.is_calibration,
        format=model.format,
    )


def ref_to_wire(ref: DatasetRef) -> RefModel:
    """A `DatasetRef` on the wire (required data ID values only: the rest follows from them)."""
    return RefModel(id=ref.id.hex, dataset_type=ref.dataset_type.name, data_id=dict(ref.data_id.required), run=ref.run)


def ref_from_wire(model: RefModel, dataset_type: DatasetType) -> DatasetRef:
    """A `DatasetRef` from the wire, given its dataset type."""
    group = dataset_type.dimensions
    values = tuple(model.data_id[d] for d in group.required)
    return DatasetRef(uuid.UUID(model.id), dataset_type, DataCoordinate.from_required(group, values), model.run)


def json_value(value: Any) -> Any:
    """A record field or data ID value as JSON: timespans as ``[begin, end]`` (TAI ns), bytes (regions) as hex
    text, which `DimensionRecord.from_dict` takes back; the rest as it is."""
    from skybutler.dimensions import Timespan

    if isinstance(value, Timespan):
        return [value.begin, value.end]
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if type(value).__module__.startswith("lsst.sphgeom"):  # a region: its own binary encoding, as hex text
        return value.encode().hex()
    return value
