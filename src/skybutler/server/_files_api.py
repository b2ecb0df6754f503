"""The signed-URL files endpoint: reads (with HTTP Range) and one-time uploads of a local datastore's files.

No token is needed here: the URL's signature is the permission (`skybutler.server._signing`).  A key that
leaves the datastore root (``..``, an absolute path) is refused before the signature is even looked at, and
an upload may only create a key in a pending upload area (``.pending/upload-.../...``), never replace a file.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from skybutler.datastore import PENDING, FileDatastore
from skybutler.datastore._keys import key_problem
from skybutler.errors import ConflictError, PermissionDeniedError
from skybutler.server._signing import check_signature

__all__ = ["router"]

router = APIRouter(tags=["files"])

_MAX_UPLOAD = 1 << 30
"""Largest single upload through the server (1 GiB); larger files belong on an object store."""


def _checked(request: Request, key: str, op: str, ds: str, exp: int, sig: str) -> FileDatastore:
    """The datastore that holds ``key``, once the key is safe and the signature matches."""
    problem = key_problem(key[len(PENDING) :] if op == "PUT" and key.startswith(PENDING) else key, external=True)
    if problem is not None:
        raise PermissionDeniedError(f"Refused path {key!r}: {problem}.")
    check_signature(request.app.state.config.secret, op, ds, key, exp, sig)
    with request.app.state.pool.butler() as butler:
        leaf = butler.datastore.leaf(ds)
    if not isinstance(leaf, FileDatastore):
        raise PermissionDeniedError(f"Datastore {ds!r} holds no files.")
    return leaf


@router.get(
    "/files/{key:path}",
    response_model=None,
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "the range asked for"}},
)
def read_file(
    request: Request,
    key: str,
    ds: Annotated[str, Query()],
    exp: Annotated[int, Query()],
    sig: Annotated[str, Query()],
    op: Annotated[str, Query()] = "GET",
) -> Response:
    """The bytes of an artifact (a ``Range: bytes=a-b`` header gives just those)."""
    if op != "GET":
        raise PermissionDeniedError("This URL is not for reading.")
    leaf = _checked(request, key, "GET", ds, exp, sig)
    transport, name = leaf.locate(key)
    if transport.is_local:
        path = transport.local_path(name)
        if not path.is_file():
            from skybutler.errors import ArtifactNotFoundError

            raise ArtifactNotFoundError(f"No file at {key!r} in datastore {ds!r}.")
        return FileResponse(path, media_type="application/octet-stream")
    return Response(transport.get(name), media_type="application/octet-stream")


@router.put("/files/{key:path}", responses={201: {"description": "stored"}}, status_code=201)
async def upload_file(
    request: Request,
    key: str,
    ds: Annotated[str, Query()],
    exp: Annotated[int, Query()],
    sig: Annotated[str, Query()],
    op: Annotated[str, Query()] = "PUT",
) -> dict[str, int]:
    """Store one pending upload (the body) at ``key``; a second upload to the same key is refused."""
    if op != "PUT" or not key.startswith(f"{PENDING}upload-"):
        raise PermissionDeniedError("This URL is not for uploading.")
    leaf = await run_in_threadpool(_checked, request, key, "PUT", ds, exp, sig)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > _MAX_UPLOAD:
        raise PermissionDeniedError(f"Uploads through the server are limited to {_MAX_UPLOAD} bytes.")
    data = await request.body()
    await run_in_threadpool(_store, leaf, key, data)
    return {"size": len(data)}


def _store(leaf: FileDatastore, key: str, data: bytes) -> None:
    transport = leaf.transport
    if transport.can_create:
        try:
            with transport.open_create(key) as out:
                out.write(data)
        except FileExistsError:
            raise ConflictError(f"{key!r} was uploaded already; prepare the put again.") from None
    else:
        if transport.exists(key):
            raise ConflictError(f"{key!r} was uploaded already; prepare the put again.")
        transport.put(key, data)
