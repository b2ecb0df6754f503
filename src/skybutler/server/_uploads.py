"""Remote puts in two steps, and where their files wait in between (the pending-uploads area).

1. *Prepare*: the server checks the caller may write the run, completes the data IDs, makes the dataset IDs and
   answers, per dataset, the formatter to write with and a signed URL that takes one upload of its file at a
   pending key in the datastore's pending-writes area (``.pending/upload-<first id>/<dataset id><ext>``, one
   area per prepared put, expiring `UPLOAD_GRACE` after its URLs).  Nothing is registered.
2. The client writes the file with its own formatter and uploads it straight to storage (an S3 presigned PUT,
   or the server's signed files endpoint for a local datastore).
3. *Commit*: the server re-measures each pending file (size and checksum against what the client says),
   claims its final path, registers all datasets in one transaction and drops the pending names -- the same
   protocol as a local put (DESIGN invariant 2).  On any refusal the pending files are deleted and nothing is
   registered.

The commit needs no state from the prepare: the pending key follows from the dataset IDs and formatter, and only
a URL the server signed can have put a file there.  The commit first moves each checked upload to the
datastore's staging name (a rename on local storage) and then follows a local put's protocol, so a server killed
at any point leaves what ``reconcile`` already knows how to repair.  An upload never
committed stays in its pending area, which ``reconcile`` reports as pending (never as unknown) until the area
expires, and after that as unknown files (deleted with ``remove_unknown``), as it does for the scale-out
workers' unmerged outputs.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa

from skybutler.datasets import (
    ArtifactInfo,
    DatasetIdMode,
    DatasetRef,
    make_dataset_id,
    random_dataset_id,
    storage_classes,
)
from skybutler.datastore import STAGING, FileDatastore, PendingArea, Staged
from skybutler.datastore._checksums import checksum_bytes, checksum_stream
from skybutler.dimensions import DataCoordinate
from skybutler.errors import (
    ArtifactNotFoundError,
    CollectionError,
    ConfigError,
    ConflictError,
    CorruptArtifactError,
    DatasetTypeError,
    StorageError,
)
from skybutler.registry import CollectionType, NewDataset
from skybutler.server._signing import sign_url
from skybutler.server._writers import checked_inputs, record_origin
from skybutler.wire import (
    CommitRequest,
    DirectPutRequest,
    InlinePutRequest,
    PrepareRequest,
    PrepareResponse,
    RefModel,
    UploadSlot,
    dataset_type_to_wire,
    ref_to_wire,
)

if TYPE_CHECKING:
    from skybutler.butler import DirectButler
    from skybutler.datasets import DatasetType
    from skybutler.registry import CollectionRecord, StoredDatasetType
    from skybutler.server._auth import Caller
    from skybutler.server._config import ServerConfig
    from skybutler.transports import Transport
    from skybutler.wire import OriginModel

__all__ = ["UPLOAD_GRACE", "commit", "direct_put", "inline_put", "pending_key", "prepare", "upload_area"]


UPLOAD_GRACE = 3600.0
"""Seconds after its upload URLs expire that a prepared put may still be committed: its pending area's
expiry is the URLs' lifetime plus this, after which reconcile may delete what was never committed."""


def upload_area(transport: Transport, first_id_hex: str) -> PendingArea:
    """The pending area of one prepared put, named by its first dataset's ID (so the commit finds it)."""
    return PendingArea(transport, f"upload-{first_id_hex}")


def pending_key(area: PendingArea, id_hex: str, ext: str) -> str:
    """Where the upload of dataset ``id_hex`` waits for its commit."""
    return area.key(f"{id_hex}{ext}")


def _id_mode(value: str | None) -> DatasetIdMode | None:
    """A put's ``id_mode`` (None: the default); an unknown one is the caller's `ConfigError` (a 422)."""
    try:
        return None if value is None else DatasetIdMode(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in DatasetIdMode)
        raise ConfigError(f"Unknown id_mode {value!r}; use one of {choices}.") from None


def _files(butler: DirectButler) -> FileDatastore:
    datastore = butler.datastore
    if not isinstance(datastore, FileDatastore):
        raise StorageError(
            f"This server's datastore ({type(datastore).__name__}) takes no uploads: its datasets go through the "
            "server (the client does this by itself when the prepared put has no upload URL)."
        )
    return datastore


def run_record(butler: DirectButler, run: str) -> CollectionRecord:
    """The RUN ``run``, registered if new (write on it was checked by the caller).

    A collection of another type is refused as the direct butler refuses it (`CollectionError`: datasets are
    born in runs), so a remote put fails with the same error class as a local one.
    """
    record = butler.registry.collections.find(run)
    if record is None:
        butler.collections.register(run, "RUN")
        return butler.registry.collections.get(run)
    if record.type is not CollectionType.RUN:
        raise CollectionError(f"Collection {run!r} is {record.type.name}, not a RUN; datasets are born in runs.")
    return record


def _direct_formatter(butler: DirectButler, dataset_type: DatasetType) -> str:
    """The formatter that carries a dataset's bytes through the server (the configuration's choice for files)."""
    from skybutler.datastore._formatter_choice import FormatterChoice

    return FormatterChoice(butler.config.datastore).for_type(dataset_type)[0]


def direct_put(butler: DirectButler, caller: Caller, request: DirectPutRequest) -> list[RefModel]:
    """A put through the server (datastores without files): each object read back here, then one local put."""
    import base64
    import io

    caller.require("write", [request.run])
    stored, _ = butler.registry.dataset_types.resolve(request.dataset_type)
    dt = stored.dataset_type
    name = _direct_formatter(butler, dt)
    from skybutler.formatters import formatters

    formatter = formatters.get(name)()
    items = []
    for item in request.items:
        if item.formatter != name:
            raise ConflictError(f"{dt.name} goes through this server as {name!r}, not {item.formatter!r}.")
        items.append((formatter.read(io.BytesIO(base64.b64decode(item.data))), item.data_id))
    mode = _id_mode(request.id_mode)
    inputs = checked_inputs(butler, caller, request.inputs, len(items))
    if request.origin is not None:  # the writer is the client's process, not this server's
        record_origin(butler, run_record(butler, request.run), request.origin)
    with_inputs = [(obj, data_id, ids) for (obj, data_id), ids in zip(items, inputs, strict=True)]
    return [ref_to_wire(r) for r in butler.put_many(with_inputs, dt, run=request.run, id_mode=mode)]


def prepare(
    butler: DirectButler, caller: Caller, request: PrepareRequest, config: ServerConfig, base: str
) -> PrepareResponse:
    """Step 1 (module doc): refs, formatters and signed upload URLs; registers nothing but the run."""
    caller.require("write", [request.run])
    stored, component = butler.registry.dataset_types.resolve(request.dataset_type)
    if component:
        raise DatasetTypeError(
            f"Cannot put a component ({request.dataset_type}); put the whole {stored.dataset_type.name}."
        )
    dt = stored.dataset_type
    checked_inputs(butler, caller, request.inputs, len(request.data_ids))  # before the run is registered
    if not isinstance(butler.datastore, FileDatastore):  # no files to upload: the bytes go through the server
        run_record(butler, request.run)
        for data_id in request.data_ids:
            butler.registry.resolve_data_id(
                dt, data_id, {}
            )  # a wrong data ID is refused before the client writes anything
        name = _direct_formatter(butler, dt)
        slots = [UploadSlot(ref=RefModel(id="", dataset_type=dt.name, data_id={}, run=request.run), formatter=name,
                            storage_class=dt.storage_class, staging_key="", upload_url=None)
                 for _ in request.data_ids]  # fmt: skip
        return PrepareResponse(dataset_type=dataset_type_to_wire(dt), checksum="none", slots=slots, expires=0)
    datastore = _files(butler)
    datastore.check_accepts(dt)
    name, formatter = datastore.formatter_for(dt)
    ext = formatter.extensions[0]
    mode = _id_mode(request.id_mode)
    run = run_record(butler, request.run)
    sc = storage_classes.get(dt.storage_class)
    transport = datastore.transport
    slots = []
    expires = int(time.time()) + config.url_lifetime
    refs = []
    for data_id in request.data_ids:
        coord = butler.registry.resolve_data_id(dt, data_id, {})
        dataset_id = random_dataset_id() if mode is None else make_dataset_id(dt, coord, run.name, mode)
        refs.append(DatasetRef(dataset_id, dt, coord, run.name))
    if refs:  # one area per prepared put: reconcile keeps it until it expires
        area = PendingArea.create(transport, "upload", area_id=upload_area(transport, refs[0].id.hex).area_id,
                                  expires_in=config.url_lifetime + UPLOAD_GRACE)  # fmt: skip
    for ref in refs:
        key = pending_key(area, ref.id.hex, ext)
        url = transport.upload_url(key, expires_in=config.url_lifetime)
        if url is None:
            url, expires = sign_url(base, config.secret, "PUT", datastore.name, key, config.url_lifetime)
        slots.append(
            UploadSlot(ref=ref_to_wire(ref), formatter=name, storage_class=sc.name, staging_key=key, upload_url=url)
        )
    return PrepareResponse(
        dataset_type=dataset_type_to_wire(dt), checksum=datastore.config.checksum, slots=slots, expires=expires
    )


def commit(butler: DirectButler, caller: Caller, request: CommitRequest) -> list[RefModel]:
    """Step 3 (module doc): check the uploads, register them in one transaction, promote; all or none."""
    caller.require("write", [request.run])
    datastore = _files(butler)
    stored, _ = butler.registry.dataset_types.resolve(request.dataset_type)
    dt = stored.dataset_type
    name, formatter = datastore.formatter_for(dt)
    ext = formatter.extensions[0]
    run = butler.registry.collections.get(request.run)
    transport = datastore.transport
    algorithm = datastore.config.checksum
    area = upload_area(transport, uuid.UUID(request.items[0].id).hex if request.items else "none")
    keys = [pending_key(area, uuid.UUID(item.id).hex, ext) for item in request.items]
    inputs = checked_inputs(butler, caller, request.inputs, len(request.items))
    staged: list[Staged] = []
    refs: list[DatasetRef] = []
    moved: list[str] = []
    try:
        for item, key in zip(request.items, keys, strict=True):
            if item.formatter != name:
                raise ConflictError(
                    f"Dataset {item.id} was written with {item.formatter!r}; this server writes "
                    f"{dt.name} with {name!r}. Prepare the put again."
                )
            values = tuple(item.data_id[d] for d in dt.dimensions.required)
            ref = DatasetRef(uuid.UUID(item.id), dt, DataCoordinate.from_required(dt.dimensions, values), run.name)
            size, checksum = _measure(transport, key, algorithm)
            if size != item.size or (item.checksum is not None and checksum is not None and checksum != item.checksum):
                raise CorruptArtifactError(
                    f"The upload of dataset {item.id} differs from what the client wrote ({size} bytes, {checksum}; "
                    f"the client said {item.size} bytes, {item.checksum}): nothing was stored. Put it again."
                )
            staging = f"{STAGING}{ref.id.hex}{ext}"  # from here on, a local put's protocol (and reconcile's repairs)
            transport.move(key, staging)
            moved.append(staging)
            key = staging
            path = datastore.artifact_path(dt, ref, ext)
            path, claimed = datastore.claim(key, path, ext, ref.id.hex)
            artifact = ArtifactInfo(path, name, item.storage_class, size, checksum, datastore=datastore.name)
            staged.append(Staged(ref.id.hex, key, artifact, claimed))
            refs.append(ref)
        _register(butler, stored, run, refs, staged, inputs, request.origin)
    except BaseException:
        datastore.abort_many(staged)
        done = {s.staging_key for s in staged}
        transport.delete_many([k for k in moved if k not in done])
        area.remove()  # the uploads not moved yet, and the area's marker
        raise
    datastore.promote_many(staged)
    area.remove()  # only the marker is left
    return [ref_to_wire(r) for r in refs]


def _register(
    butler: DirectButler, stored: StoredDatasetType, run: CollectionRecord, refs: list[DatasetRef],
    staged: list[Staged], inputs: list[list[uuid.UUID]], origin: OriginModel | None,
) -> None:  # fmt: skip
    """Register staged files' datasets, their inputs and the run's writer in one transaction (all or none)."""
    dt = stored.dataset_type
    new = [NewDataset(r.id, r.data_id.required_values, s.artifact) for r, s in zip(refs, staged, strict=True)]
    edges = {r.id: (dt.name, ids) for r, ids in zip(refs, inputs, strict=True) if ids}
    try:
        with butler.registry.db.transaction():
            butler.registry.datasets.insert(stored, run.id, new)
            if edges or origin is not None:
                record_origin(butler, run, origin, edges=edges)
    except sa.exc.IntegrityError as exc:
        raise butler.registry.explain_insert_failure(stored, run, [r.data_id for r in refs], exc) from None


def inline_put(butler: DirectButler, caller: Caller, request: InlinePutRequest) -> list[RefModel]:
    """A put of small files sent with the request, in one round trip: the checks of `prepare` (write on the
    run, data IDs, inputs) and of `commit` (formatter, size, checksum), then a local put's protocol (staging
    name, claim, one registry transaction, promote); all or none."""
    import base64

    caller.require("write", [request.run])
    stored, component = butler.registry.dataset_types.resolve(request.dataset_type)
    if component:
        raise DatasetTypeError(
            f"Cannot put a component ({request.dataset_type}); put the whole {stored.dataset_type.name}."
        )
    dt = stored.dataset_type
    inputs = checked_inputs(butler, caller, request.inputs, len(request.items))  # before the run is registered
    datastore = _files(butler)
    datastore.check_accepts(dt)
    name, formatter = datastore.formatter_for(dt)
    ext = formatter.extensions[0]
    mode = None if request.id_mode is None else DatasetIdMode(request.id_mode)
    run = run_record(butler, request.run)
    transport = datastore.transport
    algorithm = None if datastore.config.checksum == "none" else datastore.config.checksum
    refs: list[DatasetRef] = []
    files: list[tuple[bytes, str | None]] = []
    for item in request.items:
        if item.formatter != name:
            raise ConflictError(
                f"This {dt.name} was written with {item.formatter!r}; this server writes {dt.name} with {name!r}. "
                "Nothing was stored; put it again."
            )
        coord = butler.registry.resolve_data_id(dt, item.data_id, {})
        dataset_id = random_dataset_id() if mode is None else make_dataset_id(dt, coord, run.name, mode)
        data = base64.b64decode(item.data, validate=True)
        checksum = checksum_bytes(data, algorithm)
        if len(data) != item.size or (item.checksum is not None and checksum is not None and checksum != item.checksum):
            raise CorruptArtifactError(
                f"The bytes of {dt.name} {item.data_id} differ from what the client wrote ({len(data)} bytes, "
                f"{checksum}; the client said {item.size} bytes, {item.checksum}): nothing was stored. Put it again."
            )
        refs.append(DatasetRef(dataset_id, dt, coord, run.name))
        files.append((data, checksum))
    staged: list[Staged] = []
    written: list[str] = []
    try:
        for ref, item, (data, checksum) in zip(refs, request.items, files, strict=True):
            staging = f"{STAGING}{ref.id.hex}{ext}"  # a local put's protocol from here on (reconcile repairs it)
            transport.put(staging, data)
            written.append(staging)
            path, claimed = datastore.claim(staging, datastore.artifact_path(dt, ref, ext), ext, ref.id.hex)
            artifact = ArtifactInfo(path, name, item.storage_class, len(data), checksum, datastore=datastore.name)
            staged.append(Staged(ref.id.hex, staging, artifact, claimed))
        _register(butler, stored, run, refs, staged, inputs, request.origin)
    except BaseException:
        datastore.abort_many(staged)
        done = {s.staging_key for s in staged}
        transport.delete_many([k for k in written if k not in done])
        raise
    datastore.promote_many(staged)
    return [ref_to_wire(r) for r in refs]


def _measure(transport: object, key: str, algorithm: str) -> tuple[int, str | None]:
    """Size and checksum of a pending upload (missing: the upload did not happen)."""
    from skybutler.transports import Transport

    assert isinstance(transport, Transport)
    try:
        with transport.open(key) as stream:
            if algorithm == "none":
                return transport.size(key), None
            checksum, size = checksum_stream(stream, algorithm)
            return size, checksum
    except ArtifactNotFoundError:
        raise ArtifactNotFoundError(
            f"No upload arrived at {key}: the put did not happen (the signed upload URL may have expired). "
            "Put it again."
        ) from None
