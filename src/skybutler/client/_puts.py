"""The remote put: prepare on the server, write and upload here, commit on the server (`skybutler.server._uploads`).

Objects are serialized by this process with the formatter the server names, hashed while written, and uploaded to
the signed URL of each; the commit names size and checksum, which the server checks before registering all
datasets in one transaction.  A repository without files (objects in memory) takes the bytes through the server.

Small puts take one round trip instead of three: once a prepared put has named the formatter of a dataset type
(`FormatterCache.learn`), files of that type that together fit in `INLINE_LIMIT` bytes, of a format that does
not write the dataset's ID into the file, go inline with the request (``/datasets/put-inline``), where the server
checks and registers them as a commit does.
"""

from __future__ import annotations

import base64
import uuid
from typing import TYPE_CHECKING, Any

from skybutler.client._helpers import lost_put
from skybutler.client._io import FormatterCache, write_object
from skybutler.errors import ConflictError, PermissionDeniedError, StorageError
from skybutler.formatters._provenance import inputs_recorded
from skybutler.wire import (
    INLINE_LIMIT,
    CommitItem,
    CommitRequest,
    DirectItem,
    DirectPutRequest,
    InlineItem,
    InlinePutRequest,
    OriginModel,
    PrepareRequest,
    PrepareResponse,
    RefModel,
    ref_from_wire,
)

if TYPE_CHECKING:
    from skybutler.client._http import Session
    from skybutler.datasets import DatasetIdMode, DatasetRef, DatasetType

__all__ = ["put_objects"]


def put_objects(
    session: Session, formatters: FormatterCache, dt: DatasetType, objects: list[Any], data_ids: list[dict[str, Any]],
    run: str, id_mode: DatasetIdMode | None, inputs: list[list[uuid.UUID]] | None = None,
    origin: OriginModel | None = None,
) -> list[DatasetRef]:  # fmt: skip
    """Store ``objects`` (of ``dt``'s storage class already) as new datasets in ``run``: all, or none.

    ``inputs`` (per object, the IDs it was made from) are recorded by the server with the datasets, and written
    into the files by formats with room for provenance; ``origin`` is this process as the run's writer.
    """
    wire_inputs = None if inputs is None else [[i.hex for i in row] for row in inputs]
    inline = _inline(session, formatters, dt, objects, data_ids, run, id_mode, wire_inputs, origin)
    if inline is not None:
        return inline
    request = PrepareRequest(dataset_type=dt.name, run=run, data_ids=data_ids, inputs=wire_inputs,
                             id_mode=None if id_mode is None else id_mode.value)  # fmt: skip
    prepared = PrepareResponse.model_validate(session.call("POST", "/datasets/prepare", request, what=f"put {dt.name}"))
    if prepared.slots and prepared.slots[0].upload_url is None:  # no files: the bytes go through the server
        return _through_server(session, formatters, dt, objects, data_ids, prepared, run, id_mode, wire_inputs, origin)
    if prepared.slots:  # the formatter of this type: later small puts go inline
        formatters.learn(dt.name, prepared.slots[0].formatter, prepared.checksum)
    commits = []
    recorded = (
        {} if inputs is None else {uuid.UUID(s.ref.id): row for s, row in zip(prepared.slots, inputs, strict=True)}
    )
    for obj, slot in zip(objects, prepared.slots, strict=True):
        ref = ref_from_wire(slot.ref, dt)
        formatter = formatters.get(slot.formatter).for_storage_class(dt.storage_class)
        with inputs_recorded(recorded):  # the file says what it is and what it was made from
            data, size, checksum = write_object(formatter.for_dataset(ref), obj, prepared.checksum)
        if slot.upload_url is None:
            raise PermissionDeniedError(f"The server gave no upload URL for {dt.name}; the put did not happen.")
        session.upload(slot.upload_url, data, f"put {dt.name} {slot.ref.data_id}")
        commits.append(CommitItem(id=slot.ref.id, data_id=slot.ref.data_id, formatter=slot.formatter,
                                  storage_class=slot.storage_class, size=size, checksum=checksum))  # fmt: skip
    commit = CommitRequest(dataset_type=dt.name, run=run, items=commits, inputs=wire_inputs, origin=origin)
    try:
        answer = session.call("POST", "/datasets/commit", commit, what=f"put {dt.name}")
    except StorageError as exc:
        raise lost_put(exc, dt.name, [slot.ref.id for slot in prepared.slots]) from exc
    return [ref_from_wire(RefModel.model_validate(r), dt) for r in answer]


def _through_server(
    session: Session, formatters: FormatterCache, dt: DatasetType, objects: list[Any], data_ids: list[dict[str, Any]],
    prepared: PrepareResponse, run: str, id_mode: DatasetIdMode | None, inputs: list[list[str]] | None,
    origin: OriginModel | None,
) -> list[DatasetRef]:  # fmt: skip
    items = []
    for obj, data_id, slot in zip(objects, data_ids, prepared.slots, strict=True):
        formatter = formatters.get(slot.formatter).for_storage_class(dt.storage_class)
        data = write_object(formatter, obj, "none")[0]
        items.append(DirectItem(data_id=data_id, formatter=slot.formatter, data=base64.b64encode(data).decode()))
    request = DirectPutRequest(dataset_type=dt.name, run=run, items=items, inputs=inputs, origin=origin,
                               id_mode=None if id_mode is None else id_mode.value)  # fmt: skip
    answer = session.call("POST", "/datasets/put-direct", request, what=f"put {dt.name}")
    return [ref_from_wire(RefModel.model_validate(r), dt) for r in answer]


def _inline(
    session: Session, formatters: FormatterCache, dt: DatasetType, objects: list[Any], data_ids: list[dict[str, Any]],
    run: str, id_mode: DatasetIdMode | None, inputs: list[list[str]] | None, origin: OriginModel | None,
) -> list[DatasetRef] | None:  # fmt: skip
    """The put in one request, when the files are small and their format known; None: use prepare and commit."""
    learned = formatters.put_format(dt.name)
    if learned is None:
        return None
    name, algorithm = learned
    formatter = formatters.get(name).for_storage_class(dt.storage_class)
    if formatter.records_provenance:  # the file holds its dataset ID, which the prepare makes
        return None
    written = []
    total = 0
    for obj in objects:
        data, size, checksum = write_object(formatter, obj, algorithm)
        total += size
        if total > INLINE_LIMIT:
            return None
        written.append((data, size, checksum))
    items = [
        InlineItem(data_id=data_id, formatter=name, storage_class=dt.storage_class, size=size, checksum=checksum,
                   data=base64.b64encode(data).decode())
        for data_id, (data, size, checksum) in zip(data_ids, written, strict=True)
    ]  # fmt: skip
    request = InlinePutRequest(dataset_type=dt.name, run=run, items=items, inputs=inputs, origin=origin,
                               id_mode=None if id_mode is None else id_mode.value)  # fmt: skip
    try:
        answer = session.call("POST", "/datasets/put-inline", request, what=f"put {dt.name}")
    except ConflictError:
        formatters.forget(dt.name)  # perhaps the server's formatter changed: the next put asks again
        raise
    except StorageError as exc:
        raise lost_put(exc, dt.name, []) from exc
    return [ref_from_wire(RefModel.model_validate(r), dt) for r in answer]
