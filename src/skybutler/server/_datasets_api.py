"""Endpoints of datasets and dataset types: find (with signed URLs or inline bytes), put in two steps, remove."""

from __future__ import annotations

import base64
import uuid
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from skybutler.datasets import DatasetRef
from skybutler.datastore import FileDatastore
from skybutler.errors import DatasetNotFoundError
from skybutler.server import _uploads
from skybutler.server._app import Context, Ctx, json_answer
from skybutler.server._signing import sign_url
from skybutler.wire import (
    INLINE_LIMIT,
    ArtifactModel,
    CommitRequest,
    DatasetTypeModel,
    DirectPutRequest,
    FindRequest,
    FindResponse,
    InlinePutRequest,
    PrepareRequest,
    PrepareResponse,
    RefModel,
    RefsRequest,
    RegisterDatasetTypeRequest,
    RemoveRequest,
    ServerInfo,
    dataset_type_to_wire,
)

if TYPE_CHECKING:
    from skybutler.butler import DirectButler
    from skybutler.datasets import ArtifactInfo
    from skybutler.registry import DatasetRow
    from skybutler.server._auth import Caller

__all__ = ["router"]

router = APIRouter(tags=["datasets"])


@router.get("/", response_model=ServerInfo)
def info(ctx: Ctx) -> ServerInfo:
    """What a client needs to configure itself; answers without a token too (no user is then named)."""
    from skybutler import __version__
    from skybutler.formatters import formatters

    with ctx.pool.butler() as butler:
        user, grants = None, []
        if ctx.has_credentials:
            with ctx.session() as (_, caller):
                user, grants = caller.user, [str(g) for g in caller.grants]
        return ServerInfo(
            version=__version__,
            universe=butler.universe.text,
            formats=sorted(formatters.names()),
            storage_classes=sorted(_storage_class_names()),
            checksum=butler.config.datastore.checksum,
            user=user,
            grants=grants,
        )


def _storage_class_names() -> list[str]:
    from skybutler.datasets import storage_classes

    return list(storage_classes.names())


# -- dataset types ------------------------------------------------------------------------------------------------
@router.get("/dataset-types", response_model=list[DatasetTypeModel])
def query_dataset_types(ctx: Ctx, pattern: Annotated[list[str] | None, Query()] = None) -> list[DatasetTypeModel]:
    """Registered dataset types matching glob patterns (default: all)."""
    with ctx.session() as (butler, _):
        return [dataset_type_to_wire(dt) for dt in butler.query_dataset_types(pattern or "*")]


@router.get("/dataset-types/{name}", response_model=DatasetTypeModel)
def get_dataset_type(ctx: Ctx, name: str) -> DatasetTypeModel:
    """One registered dataset type (a component name gives its parent's definition)."""
    with ctx.session() as (butler, _):
        return dataset_type_to_wire(butler.get_dataset_type(name.partition(".")[0]))


@router.post("/dataset-types", response_model=DatasetTypeModel)
def register_dataset_type(ctx: Ctx, body: RegisterDatasetTypeRequest) -> DatasetTypeModel:
    """Register a dataset type (admin)."""
    with ctx.session(write=True) as (butler, caller):
        caller.require_admin(f"Registering dataset type {body.name!r}")
        dt = butler.register_dataset_type(
            body.name, body.dimensions, body.storage_class, is_calibration=body.is_calibration, format=body.format
        )
        return dataset_type_to_wire(dt)


@router.delete("/dataset-types/{name}")
def remove_dataset_type(ctx: Ctx, name: str) -> dict[str, bool]:
    """Remove a dataset type that has no datasets (admin)."""
    with ctx.session(write=True, changes=True) as (butler, caller):
        caller.require_admin(f"Removing dataset type {name!r}")
        butler.remove_dataset_type(name)
        return {"removed": True}


# -- find and read ---------------------------------------------------------------------------------------------
def artifact_models(
    ctx: Context, butler: DirectButler, artifacts: tuple[ArtifactInfo, ...], inline: bool
) -> list[ArtifactModel]:
    """The artifacts of a dataset in read order, each with a signed URL and, when small, its bytes."""
    out = []
    config = ctx.config
    for artifact in butler.datastore.ordered(artifacts):
        leaf = butler.datastore.leaf(artifact.datastore)
        url = data = None
        if isinstance(leaf, FileDatastore):
            transport, key = leaf.locate(artifact.path)
            if transport.is_local:
                url = sign_url(ctx.base_url, config.secret, "GET", leaf.name, artifact.path, config.url_lifetime)[0]
                if inline and artifact.size <= INLINE_LIMIT:
                    data = base64.b64encode(transport.get(key)).decode()
            else:
                url = transport.url(key, expires_in=config.url_lifetime)
        out.append(
            ArtifactModel(
                path=artifact.path,
                formatter=artifact.formatter,
                storage_class=artifact.storage_class,
                size=artifact.size,
                checksum=artifact.checksum,
                component=artifact.component,
                datastore=artifact.datastore,
                uri=butler.datastore.uri_of(artifact),
                url=url,
                inline=data,
            )
        )
    return out


def _row_by_id(butler: DirectButler, name: str, dataset_id: str) -> tuple[Any, DatasetRow]:
    stored, _ = butler.registry.dataset_types.resolve(name)
    try:
        wanted = uuid.UUID(dataset_id)
    except ValueError:
        raise DatasetNotFoundError(f"{dataset_id!r} is not a dataset ID (a UUID).") from None
    row = butler.registry.datasets.by_id(stored, wanted)  # one cached statement (by_ids builds one per call)
    if row is None:
        raise DatasetNotFoundError(f"Dataset {dataset_id} ({name}) is not in the registry.")
    return stored, row


def find_one(ctx: Context, butler: DirectButler, caller: Caller, body: FindRequest) -> FindResponse:
    """`FindRequest` → `FindResponse`, checking the caller may read where the dataset was looked for."""
    component = body.dataset_type.partition(".")[2] or None
    if body.id is not None:
        stored, row = _row_by_id(butler, body.dataset_type, body.id)
        run = butler.registry.collections.by_id(row.run_id).name
        caller.require("read", [run])
        dt = stored.dataset_type
        values = row.values
    else:
        names = body.collections or []
        caller.require_read_path(butler, names)
        # get_deferred fails fast, with the explanation of a miss; the ref it finds is the parent type's
        try:
            found = butler.get_deferred(
                body.dataset_type, body.data_id, collections=names, at=body.at, as_of=body.as_of
            )
        except DatasetNotFoundError as exc:
            raise DatasetNotFoundError(caller.scrub(butler, str(exc))) from None
        stored, row = _row_by_id(butler, found.ref.dataset_type.name, found.ref.id.hex)
        dt = stored.dataset_type
        values = found.ref.data_id.required_values
        run = found.ref.run
    ref = RefModel(
        id=row.id.hex, dataset_type=dt.name, data_id=dict(zip(dt.dimensions.required, values, strict=True)), run=run
    )
    artifacts = artifact_models(ctx, butler, row.artifacts, body.inline) if body.artifacts else []
    return FindResponse(
        ref=ref,
        dataset_type=dataset_type_to_wire(dt),
        component=component,
        artifacts=artifacts,
        via_server=bool(artifacts) and all(a.url is None for a in artifacts),
    )


@router.post("/datasets/find", response_model=FindResponse)
def find(ctx: Ctx, body: FindRequest) -> Response:
    """Find a dataset (by ID, or by type and data ID along collections), with its artifacts on request."""
    with ctx.session() as (butler, caller):
        return json_answer(find_one(ctx, butler, caller, body))


@router.post("/datasets/lookup", response_model=list[FindResponse])
def lookup(ctx: Ctx, body: RefsRequest) -> list[FindResponse]:
    """Many datasets by ID (get_many): every one must exist and be readable."""
    with ctx.session() as (butler, caller):
        return [
            find_one(
                ctx,
                butler,
                caller,
                FindRequest(dataset_type=r.dataset_type, id=r.id, artifacts=body.artifacts, inline=body.inline),
            )
            for r in body.refs
        ]


@router.post("/datasets/remove")
def remove(ctx: Ctx, body: RemoveRequest) -> dict[str, int]:
    """Remove datasets (write on each one's run); the count removed."""
    with ctx.session(write=True) as (butler, caller):
        refs = _refs(butler, body.refs)
        caller.require("write", sorted({r.run for r in refs}))
        return {"removed": butler.remove(refs, even_if_used=body.even_if_used)}


def _refs(butler: DirectButler, models: list[RefModel]) -> list[DatasetRef]:
    """Refs as the registry has them (the run is the registry's, not the caller's word)."""
    out = []
    for model in models:
        stored, row = _row_by_id(butler, model.dataset_type, model.id)
        dt = stored.dataset_type
        from skybutler.dimensions import DataCoordinate

        coord = DataCoordinate.from_required(dt.dimensions, row.values)
        out.append(DatasetRef(row.id, dt, coord, butler.registry.collections.by_id(row.run_id).name))
    return out


# -- put --------------------------------------------------------------------------------------------------------
@router.post("/datasets/prepare", response_model=PrepareResponse)
def prepare_put(ctx: Ctx, body: PrepareRequest) -> Response:
    """First step of a put: refs, formatter and signed upload URLs (write on the run)."""
    with ctx.session() as (butler, caller):
        return json_answer(_uploads.prepare(butler, caller, body, ctx.config, ctx.base_url))


@router.post("/datasets/commit", response_model=list[RefModel])
def commit_put(ctx: Ctx, body: CommitRequest) -> Response:
    """Last step of a put: check the uploads and register them in one transaction."""
    with ctx.session() as (butler, caller):
        return json_answer(_uploads.commit(butler, caller, body))


@router.post("/datasets/put-inline", response_model=list[RefModel])
def put_inline(ctx: Ctx, body: InlinePutRequest) -> Response:
    """A put of small files sent in the request (one round trip; write on the run): checked as a commit is."""
    with ctx.session() as (butler, caller):
        return json_answer(_uploads.inline_put(butler, caller, body))


@router.post("/datasets/put-direct", response_model=list[RefModel])
def put_direct(ctx: Ctx, body: DirectPutRequest) -> list[RefModel]:
    """A put through the server, for datastores without files (write on the run)."""
    with ctx.session() as (butler, caller):
        return _uploads.direct_put(butler, caller, body)


@router.post("/datasets/read", response_model=None, responses={200: {"content": {"application/octet-stream": {}}}})
def read_direct(ctx: Ctx, body: FindRequest) -> Response:
    """A dataset's bytes through the server (datastores without files), written with the formatter named in the
    ``X-Skybutler-Formatter`` header; a find by ID only."""
    import io

    from skybutler.formatters import formatters

    with ctx.session() as (butler, caller):
        if body.id is None:
            raise DatasetNotFoundError("Reading through the server needs the dataset ID (find the dataset first).")
        stored, row = _row_by_id(butler, body.dataset_type, body.id)
        caller.require("read", [butler.registry.collections.by_id(row.run_id).name])
        dt = stored.dataset_type
        obj = butler.get(_refs(butler, [RefModel(id=body.id, dataset_type=dt.name, data_id={}, run="")])[0])
        name = _uploads._direct_formatter(butler, dt)
        out = io.BytesIO()
        formatters.get(name)().for_storage_class(dt.storage_class).write(obj, out)
        return Response(out.getvalue(), media_type="application/octet-stream", headers={"X-Skybutler-Formatter": name})


# -- records and maintenance (admin) ---------------------------------------------------------------------------
@router.post("/dimension-records/{element}")
def insert_dimension_records(
    ctx: Ctx, element: str, records: list[dict[str, Any]], skip_existing: bool = False
) -> dict[str, int]:
    """Insert dimension records (admin)."""
    with ctx.session(write=True) as (butler, caller):
        caller.require_admin(f"Inserting {element!r} records")
        return {"inserted": butler.insert_dimension_records(element, records, skip_existing=skip_existing)}


@router.post("/admin/verify")
def verify(ctx: Ctx, body: RefsRequest | None = None) -> dict[str, Any]:
    """Re-check artifacts' sizes and checksums (admin): of the refs given, else of every dataset (then unknown
    files are listed too); the `VerifyReport`'s fields."""
    with ctx.session() as (butler, caller):
        caller.require_admin("verify")
        return _plain(butler.verify(None if body is None else _refs(butler, body.refs)))


@router.post("/admin/reconcile")
def reconcile(ctx: Ctx, grace_seconds: float = 600.0, remove_unknown: bool = False) -> dict[str, Any]:
    """Repair what crashes left (admin): the `ReconcileReport`'s fields; pending uploads younger than
    ``grace_seconds`` are kept."""
    with ctx.session(write=True) as (butler, caller):
        caller.require_admin("reconcile")
        return _plain(butler.reconcile(grace_seconds=max(grace_seconds, 0.0), remove_unknown=remove_unknown))


def _plain(report: Any) -> dict[str, Any]:
    """A report dataclass as JSON values (dataset IDs as hex)."""
    import dataclasses

    def plain(value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return value.hex
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return {f.name: plain(getattr(report, f.name)) for f in dataclasses.fields(report)}
