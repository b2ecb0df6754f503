"""Endpoints of ingest, export and import (issue 20): files staged through signed uploads, exports streamed back.

The server cannot read a client's disk, so an ingest or import first *stages* the client's files: the client
asks for a pending upload area (``write`` on the ingest's run; some write grant for an import), uploads each file to
its signed URL (an S3 presigned PUT, or the server's files endpoint, which only creates keys in such an area),
and then names the area.  The server hands the staged files to the repository's own `Butler.ingest` (copy)
or `Butler.import_`, so checks, errors and the all-or-nothing transaction are the local ones, and deletes the
area afterwards whatever happened.  An area never used expires like a put's (``reconcile`` reports it as
pending until then).

An import is checked per collection on the whole file before anything changes (`_import_check`): ``write`` on
every collection it writes, and ``admin`` only for the dataset types and dimension records this repository
lacks.  An export needs ``read`` on every collection it reads (chains followed); the server writes the file,
or a ``.zip`` archive with the datasets' files, and streams it back.  A transfer out (``/transfer/source``)
needs ``read`` on the datasets' runs and on the collections whose associations it carries.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from skybutler.datastore import PendingArea
from skybutler.errors import (
    ArtifactNotFoundError,
    ConfigError,
    CorruptArtifactError,
    DataIdError,
    PermissionDeniedError,
)
from skybutler.server._app import Ctx
from skybutler.server._signing import sign_url
from skybutler.server._uploads import UPLOAD_GRACE
from skybutler.transfer import apply_associations, check_associations
from skybutler.wire import RefModel, ref_from_wire, ref_to_wire
from skybutler.wire_transfer import (
    ExportFileModel,
    ExportFilesResponse,
    ExportRequest,
    ImportRequest,
    IngestRequest,
    SourceRequest,
    SourceResponse,
    StageRequest,
    StageResponse,
    associations_from_wire,
    associations_to_wire,
)

if TYPE_CHECKING:
    from skybutler.butler import DirectButler
    from skybutler.datasets import ArtifactInfo, DatasetRef
    from skybutler.dimensions import DimensionRecord
    from skybutler.server._auth import Caller
    from skybutler.transfer import Associations, ImportPlan
    from skybutler.transports import Transport

__all__ = ["router"]

router = APIRouter(tags=["transfer"])

_AREA = re.compile(r"upload-[0-9a-f]{32}").fullmatch
_SUFFIX = re.compile(r"(?:\.[A-Za-z0-9]{1,8}){0,2}$").search
_EXPORT_SUFFIXES = (".yaml", ".yml", ".json", ".zip")


def _suffix(name: str) -> str:
    """The extension(s) of a client's file name worth keeping (``.fits.gz``), safe as a key's end."""
    found = _SUFFIX(PurePosixPath(name.replace("\\", "/")).name)
    return found.group(0) if found else ""


def _area(transport: Transport, area_id: str) -> PendingArea:
    """The staged area ``area_id``, refused unless it is an upload area that still exists."""
    if not _AREA(area_id):
        raise PermissionDeniedError(f"{area_id!r} is not an upload area's name; stage the files first.")
    area = PendingArea(transport, area_id)
    try:
        area.info()
    except ArtifactNotFoundError:
        raise ArtifactNotFoundError(
            f"Upload area {area_id} is gone (used already, or expired); stage and upload the files again."
        ) from None
    return area


def _staged_key(area: PendingArea, key: str, size: int | None = None) -> str:
    """``key``, refused unless it is a file of ``area`` (of ``size`` bytes when given: a cut upload fails)."""
    if not key.startswith(area.prefix) or "/" in key[len(area.prefix) :] or ".." in key:
        raise PermissionDeniedError(f"Refused path {key!r}: not a file of upload area {area.area_id}.")
    if size is not None:
        try:
            found = area.transport.size(key)
        except ArtifactNotFoundError:
            raise ArtifactNotFoundError(
                f"No upload arrived at {key}: nothing was registered (the signed URL may have expired). Try again."
            ) from None
        if found != size:
            raise CorruptArtifactError(
                f"The upload at {key} has {found} bytes, not the {size} the client sent: nothing was registered."
            )
    return key


@contextmanager
def _readable(transport: Transport, key: str) -> Iterator[str]:
    """Where ingest reads a staged file: in place on local storage, else a temporary local copy (the
    repository's transport knows the object store's endpoint; a bare URI of it would not)."""
    if transport.is_local:
        yield str(transport.local_path(key))
        return
    with transport.as_local(key) as path:
        yield str(path)


@router.post("/transfer/stage", response_model=StageResponse)
def stage(ctx: Ctx, body: StageRequest) -> StageResponse:
    """A pending upload area with one signed upload URL per file (write on ``run``; admin without a run)."""
    with ctx.session(write=True) as (butler, caller):
        if body.run is None:
            _require_some_write(caller, "Importing an export")
        else:
            caller.require("write", [body.run])
        files = butler.datastore.files("take uploaded files")
        transport, lifetime = files.transport, ctx.config.url_lifetime
        area = PendingArea.create(transport, "upload", area_id=f"upload-{uuid.uuid4().hex}",
                                  expires_in=lifetime + UPLOAD_GRACE)  # fmt: skip
        keys = [area.key(f"{i}{_suffix(name)}") for i, name in enumerate(body.names)]
        urls = []
        for key in keys:
            url = transport.upload_url(key, expires_in=lifetime)
            if url is None:
                url = sign_url(ctx.base_url, ctx.config.secret, "PUT", files.name, key, lifetime)[0]
            urls.append(url)
        return StageResponse(area=area.area_id, keys=keys, urls=urls)


def _new_refs(butler: DirectButler, models: list[RefModel]) -> list[DatasetRef]:
    """Refs named by the client for an ingest that keeps their IDs (types as the registry has them)."""
    out = []
    for model in models:
        stored, _ = butler.registry.dataset_types.resolve(model.dataset_type)
        try:
            out.append(ref_from_wire(model, stored.dataset_type))
        except (KeyError, ValueError) as exc:
            raise DataIdError(f"Ref {model.id} ({model.dataset_type} {model.data_id}) is malformed: {exc!r}.") from None
    return out


def _records(butler: DirectButler, caller: Caller, given: list[tuple[str, dict[str, Any]]]) -> list[DimensionRecord]:
    """Dimension records sent with an ingest (a transfer's); one this repository lacks needs ``admin``."""
    from skybutler.dimensions import DimensionRecord

    out = []
    keys: dict[str, set[tuple[Any, ...]]] = {}
    for name, fields in given:
        if name not in butler.universe:
            raise DataIdError(f"{name!r} is not a dimension element of this repository's universe.")
        try:
            record = DimensionRecord.from_dict(butler.universe[name], fields)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, DataIdError):
                raise
            raise DataIdError(f"A {name!r} record is malformed: {exc!r}.") from None
        keys.setdefault(name, set()).add(record.key)
        out.append(record)
    for name, wanted in keys.items():  # one query per element, however many records
        try:
            missing = wanted - butler.registry.records.existing_keys(name, list(wanted))
        except sa.exc.DBAPIError:  # e.g. text where the database keeps an integer
            raise DataIdError(f"A {name!r} record has a key of the wrong type: {sorted(wanted, key=str)[0]}.") from None
        if missing:
            caller.require_admin(f"Inserting {name!r} records")
    return out


@router.post("/transfer/ingest", response_model=list[RefModel])
def ingest(ctx: Ctx, body: IngestRequest) -> list[RefModel]:
    """Ingest staged files (write on every run they go to); the upload area is deleted afterwards."""
    from skybutler.transfer import FileDataset

    with ctx.session(write=True) as (butler, caller):
        transport = butler.datastore.files("ingest files").transport
        area = _area(transport, body.area)
        try:  # the area goes whatever happens, a refusal included: its files were this request's
            refs = [_new_refs(butler, item.refs) for item in body.datasets]
            runs = {r.run for rs in refs for r in rs}
            if any(not rs for rs in refs):
                if body.run is None:
                    raise PermissionDeniedError("No run to ingest into: pass run= to ingest() or to Butler().")
                runs.add(body.run)
            associations = None
            if body.associations is not None:  # a transfer's tags and certifications: write on each collection
                associations = associations_from_wire(body.associations, {r.id: r for rs in refs for r in rs})
                runs.update(associations.tagged, associations.certified)
            caller.require("write", sorted(runs))
            records = [_records(butler, caller, item.records) for item in body.datasets]
            if associations:
                check_associations(butler.registry, associations)  # before anything is written
            with ExitStack() as stack:
                paths = [
                    stack.enter_context(_readable(transport, _staged_key(area, i.key, i.size))) for i in body.datasets
                ]
                datasets = [
                    FileDataset(
                        path,
                        refs=rs,
                        dataset_type=item.dataset_type,
                        data_id=item.data_id,
                        formatter=item.formatter,
                        records=tuple(rec),
                    )
                    for item, rs, path, rec in zip(body.datasets, refs, paths, records, strict=True)
                ]
                done = butler.ingest(*datasets, transfer="copy", run=body.run, skip_existing=body.skip_existing,
                                     id_mode=body.id_mode, checksum=body.checksum)  # fmt: skip
        finally:
            area.remove()
        if associations:
            _associate(butler, associations)
        return [ref_to_wire(r) for r in done]


def _associate(butler: DirectButler, associations: Associations) -> None:
    """Tag and certify a transfer's datasets once they are in, as a local `transfer_from` does."""
    from skybutler.errors import SkyButlerError

    try:
        apply_associations(butler.registry, associations)
    except SkyButlerError as exc:  # a concurrent change since the check: the datasets stay; say so
        note = "The datasets were transferred; re-run the transfer to add the associations."
        raise type(exc)(f"{exc} ({note})") from None


@router.post("/transfer/source", response_model=SourceResponse)
def source(ctx: Ctx, body: SourceRequest) -> SourceResponse:
    """What a transfer out of this repository needs (`Butler.transfer_from` with this server as the source):
    read on the datasets' runs, and on every collection ``collections`` reaches (chains followed)."""
    from skybutler.server._datasets_api import _refs, artifact_models
    from skybutler.transfer import RepositorySource
    from skybutler.wire import dataset_type_to_wire, json_value

    with ctx.session() as (butler, caller):
        refs = _refs(butler, body.refs)
        caller.require("read", sorted({r.run for r in refs}))
        if body.collections is not None:
            caller.require_read_path(butler, body.collections)
        files = butler.datastore.files("transfer datasets out")
        found = RepositorySource(butler.registry, files).describe(
            refs, records=body.records, collections=body.collections
        )
        return SourceResponse(
            dataset_types=[dataset_type_to_wire(t) for t in found.dataset_types.values()],
            artifacts={i.hex: artifact_models(ctx, butler, (a,), inline=True)[0] for i, a in found.artifacts.items()},
            records=[
                (name, {k: json_value(v) for k, v in r.to_dict().items()}) for (name, _), r in found.records.items()
            ],
            associations=associations_to_wire(found.associations),
            provenance=found.provenance,
        )


@router.post("/transfer/import")
def import_(ctx: Ctx, body: ImportRequest) -> dict[str, Any]:
    """Import a staged export file or archive in one transaction (grants checked per collection against the
    whole file first: `_import_check`); the upload area is deleted afterwards."""
    from skybutler.transfer import import_export

    with ctx.session(write=True) as (butler, caller):
        _require_some_write(caller, "Importing an export")
        transport = butler.datastore.files("import an export").transport
        area = _area(transport, body.area)
        try:
            with transport.as_local(_staged_key(area, body.key, body.size)) as path:
                report = import_export(butler.registry, butler.datastore, path, skip_existing=body.skip_existing,
                                       check=_import_check(butler, caller))  # fmt: skip
        finally:
            area.remove()
        return dataclasses.asdict(report)


def _require_some_write(caller: Caller, what: str) -> None:
    """Refuse a caller who may write nowhere (an import's collections are known once its file is read)."""
    if not caller.is_admin and not any(g.kind == "write" for g in caller.grants):
        raise PermissionDeniedError(
            f"{what} needs 'write' on the collections it writes (or 'admin'), and {caller.user or 'this caller'!r} "
            "holds no write grant; nothing was changed."
        )


def _import_check(butler: DirectButler, caller: Caller) -> Callable[[ImportPlan], None]:
    """The grants an import needs, checked on its whole plan before anything changes: ``write`` on every
    collection it writes (runs, TAGGED, CALIBRATION and CHAINED collections, those it only adds to included),
    ``read`` on a chain's children, and ``admin`` for a dataset type or a dimension record this repository
    lacks (as `register_dataset_type` and record inserts need remotely)."""

    def check(plan: ImportPlan) -> None:
        if caller.is_admin:
            return
        written = {*plan.runs, *plan.collections, *plan.chains, *plan.tagged, *plan.certified}
        caller.require("write", sorted(written))
        caller.require("read", sorted({c for children in plan.chains.values() for c in children}))
        # One query for the dataset types and one per element for the records, however many the file holds.
        for name in butler.registry.dataset_types.missing(plan.dataset_types)[:1]:
            caller.require_admin(f"Registering dataset type {name!r} (from the export)")
        for element, records in plan.records.items():
            keys = {r.key for r in records}
            if keys - butler.registry.records.existing_keys(element, list(keys)):
                caller.require_admin(f"Inserting {element!r} records (from the export)")

    return check


def _export_refs(butler: DirectButler, caller: Caller, body: ExportRequest) -> list[DatasetRef] | None:
    """The refs an export names (``None``: chosen by its collections), once the caller may read it all."""
    refs = None
    if body.refs is not None:
        from skybutler.server._datasets_api import _refs

        refs = _refs(butler, body.refs)
        caller.require("read", sorted({r.run for r in refs}))
    if body.collections is not None:
        caller.require_read_path(butler, body.collections)
    elif refs is None:  # everything: every collection must be readable
        caller.require("read", butler.query_collections())
    return refs


@router.post("/transfer/export/files", response_model=ExportFilesResponse)
def export_files(ctx: Ctx, body: ExportRequest) -> ExportFilesResponse:
    """The export document of what the caller may read and the files it names, each with a signed URL (or
    inline when small): the client writes the ``.zip`` archive or the directory itself, and no file's bytes
    pass through the server (``transfer`` and ``name`` are the client's business)."""
    from skybutler.server._datasets_api import artifact_models
    from skybutler.transfer import export_datasets
    from skybutler.transfer._provenance import sidecar_path

    with tempfile.TemporaryDirectory(prefix="skybutler-export-") as tmp, ctx.session() as (butler, caller):
        refs = _export_refs(butler, caller, body)
        listing: list[tuple[DatasetRef, ArtifactInfo]] = []
        target = Path(tmp) / "export.yaml"
        report = export_datasets(butler.registry, butler.datastore, target, refs=refs, collections=body.collections,
                                 dataset_types=body.dataset_types, where=body.where,
                                 include_dimensions=body.include_dimensions,
                                 listing=listing if body.files else None)  # fmt: skip
        files = [
            ExportFileModel(ref=ref_to_wire(r), artifact=artifact_models(ctx, butler, (a,), inline=True)[0])
            for r, a in listing
        ]
        counts = {k: v for k, v in dataclasses.asdict(report).items() if isinstance(v, int | float)}
        return ExportFilesResponse(document=target.read_text(encoding="utf-8"), files=files, report=counts,
                                   provenance=sidecar_path(target).read_text(encoding="utf-8"),
                                   url_lifetime=ctx.config.url_lifetime)  # fmt: skip


@router.post("/transfer/export", response_model=None, responses={200: {"content": {"application/octet-stream": {}}}})
def export(ctx: Ctx, body: ExportRequest) -> FileResponse:
    """The export file (or ``.zip`` archive with the files) of what the caller may read; a report in a header.

    The files go through the server here: the client uses it only when a file has no signed URL (storage
    that cannot sign one, e.g. an fsspec filesystem without signing); otherwise ``/transfer/export/files``.
    """
    name = PurePosixPath(body.name.replace("\\", "/")).name
    if not name.endswith(_EXPORT_SUFFIXES):
        raise ConfigError(f"An export's name must end with one of {', '.join(_EXPORT_SUFFIXES)}; got {body.name!r}.")
    tmp = Path(tempfile.mkdtemp(prefix="skybutler-export-"))
    try:
        with ctx.session() as (butler, caller):
            refs = _export_refs(butler, caller, body)
            started = time.perf_counter()
            report = butler.export(tmp / name, refs=refs, collections=body.collections, where=body.where,
                                   dataset_types=body.dataset_types, transfer=body.transfer,
                                   include_dimensions=body.include_dimensions)  # fmt: skip
        fields = dataclasses.asdict(report) | {"path": name, "seconds": time.perf_counter() - started}
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FileResponse(tmp / name, headers={"X-Skybutler-Report": json.dumps(fields)},
                        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True))  # fmt: skip
