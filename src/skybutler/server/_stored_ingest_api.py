"""Ingest of files already in the repository's datastore storage, without an upload (issue 20, part 1).

Files often reach a site's storage by other means (a telescope's transfer system writing into the bucket or
file system the datastore uses).  ``POST /transfer/ingest-stored`` registers them from there: with ``auto``
a file of a local datastore is registered where it is (as a local ``auto`` ingest of a file in the root); on
an object store, and with ``copy``, it is copied to the datastore's template path (the original stays).

What the server refuses, before anything is written (a 403 naming the path): a path outside the datastore
root (an absolute path or URI elsewhere, a ``..`` segment, a symbolic link that leads out of the root), the
repository's own files (``butler.yaml``, the pending and trash areas), and the file of a registered dataset
(ingesting it again would let a caller read, or later delete, another run's file).  The caller needs
``write`` on the run, and ``admin`` for dimension records the repository lacks, as for an uploaded ingest.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING

from fastapi import APIRouter

from skybutler.datastore import key_problem
from skybutler.errors import ArtifactNotFoundError, PermissionDeniedError
from skybutler.server._app import Ctx
from skybutler.server._transfer_api import _new_refs, _readable, _records
from skybutler.wire import RefModel, ref_to_wire
from skybutler.wire_transfer import StoredIngestRequest

if TYPE_CHECKING:
    from skybutler.datastore import FileDatastore

__all__ = ["router"]

router = APIRouter(tags=["transfer"])


def stored_key(files: FileDatastore, given: str) -> str:
    """The datastore key of a file named by the client (relative to the root, or a URI / absolute path under
    it), refused unless it is an existing, unowned file inside the root (see the module docstring).

    Raises
    ------
    PermissionDeniedError
        The path leaves the datastore root or names the repository's own files.
    ArtifactNotFoundError
        There is no file there.
    """
    transport = files.transport
    key = given
    roots = [transport.root]
    if transport.is_local:
        roots.append(str(transport.local_path("")).rstrip("/") + "/")
    if "://" in given or given.startswith("/"):
        inside = [given[len(r) :] for r in roots if given.startswith(r)]
        if not inside:
            raise PermissionDeniedError(
                f"Refused path {given!r}: it is outside this repository's datastore root ({transport.root}); "
                "nothing was ingested. Upload the file instead (ingest it with transfer='copy')."
            )
        key = inside[0]
    problem = key_problem(key)
    if problem is not None:
        raise PermissionDeniedError(f"Refused path {given!r}: it {problem}; nothing was ingested.")
    if transport.is_local:
        root = transport.local_path("").resolve()
        real = transport.local_path(key).resolve()
        if real == root or not real.is_relative_to(root):
            raise PermissionDeniedError(
                f"Refused path {given!r}: it leads out of the datastore root (through a link); nothing was ingested."
            )
        if not real.is_file():
            raise ArtifactNotFoundError(f"No file at {given!r} in the datastore's storage; nothing was ingested.")
    elif not transport.exists(key):
        raise ArtifactNotFoundError(f"No file at {given!r} in the datastore's storage; nothing was ingested.")
    return key


@router.post("/transfer/ingest-stored", response_model=list[RefModel])
def ingest_stored(ctx: Ctx, body: StoredIngestRequest) -> list[RefModel]:
    """Ingest files already in the datastore's storage (write on the run; see the module docstring)."""
    from skybutler.transfer import FileDataset

    with ctx.session(write=True) as (butler, caller):
        files = butler.datastore.files("ingest files")
        refs = [_new_refs(butler, item.refs) for item in body.datasets]
        runs = {r.run for rs in refs for r in rs}
        if any(not rs for rs in refs):
            if body.run is None:
                raise PermissionDeniedError("No run to ingest into: pass run= to ingest() or to Butler().")
            runs.add(body.run)
        caller.require("write", sorted(runs))
        keys = [stored_key(files, item.key) for item in body.datasets]
        owned = butler.registry.datasets.live_paths(keys, datastore=files.name)
        if owned:
            raise PermissionDeniedError(
                f"Refused path {sorted(owned)[0]!r}: it is the file of a registered dataset; nothing was ingested."
            )
        records = [_records(butler, caller, item.records) for item in body.datasets]
        with ExitStack() as stack:  # an object store's files are read through a local copy (then copied)
            paths = [stack.enter_context(_readable(files.transport, key)) for key in keys]
            datasets = [
                FileDataset(path, refs=rs, dataset_type=item.dataset_type, data_id=item.data_id,
                            formatter=item.formatter, records=tuple(rec))
                for item, rs, path, rec in zip(body.datasets, refs, paths, records, strict=True)
            ]  # fmt: skip
            done = butler.ingest(*datasets, transfer=body.transfer, run=body.run, skip_existing=body.skip_existing,
                                 id_mode=body.id_mode, checksum=body.checksum)  # fmt: skip
        return [ref_to_wire(r) for r in done]
