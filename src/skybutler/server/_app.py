"""The FastAPI application: one repository, a pool of butlers, authentication, and errors as JSON.

Endpoints are plain (synchronous) functions, which FastAPI runs on its thread pool; each takes a butler from
`ButlerPool` for the length of the call, so no registry connection is ever used by two threads at once.
Every `SkyButlerError` becomes an `ErrorModel` body with the error's ``code`` and ``http_status``, which the
client turns back into the same exception class.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from skybutler.butler import DirectButler
from skybutler.errors import ConfigError, DatasetNotFoundError, PermissionDeniedError, SkyButlerError
from skybutler.server._auth import Caller, authenticate
from skybutler.server._config import ServerConfig
from skybutler.wire import API_PREFIX, ErrorModel

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["ButlerPool", "Context", "context", "create_app", "error_response", "json_answer"]

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorModel, "description": what}
    for status, what in [
        (400, "malformed request (query syntax)"),
        (403, "no token, or not permitted"),
        (404, "not found"),
        (409, "conflict"),
        (422, "invalid data ID, dataset type, option or request"),
        (500, "server error"),
        (502, "storage error"),
        (503, "migration required"),
    ]
}
"""The error answers every endpoint may give, for the OpenAPI document."""


class ButlerPool:
    """Butlers on the repository, one per concurrent request (a registry connection is not shared).

    Each butler caches collections and dataset types.  A removal through one of them (a run, a chain, a
    dataset type: ``changes=True``) bumps the pool's `generation`; a butler taken out after that forgets its
    caches first, at no cost to requests when nothing was removed.  Write requests (``write=True``) also read
    the registry's own generation counter (one small read: 10 µs CPU on SQLite, one round trip on PostgreSQL),
    so a removal by another process (the CLI, another server) is seen before anything is written: a cached
    collection can then never name a removed one, or one whose ID SQLite gave to a new collection.  Puts skip
    that read (their hot path): they see removals made through this server's pool, and a request that fails
    (a put into a run another process removed) leaves its butler to forget its caches, so trying again works.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self._free: queue.SimpleQueue[tuple[DirectButler, int]] = queue.SimpleQueue()
        self.generation = 0
        """Bumped after every request that removed a collection or dataset type through a pooled butler."""
        self._lock = threading.Lock()
        self._free.put((DirectButler(root, writeable=True), 0))  # fails fast on a missing repository

    @contextmanager
    def butler(self, *, write: bool = False, changes: bool = False) -> Iterator[DirectButler]:
        """A butler for the duration of the block, its caches current (see the class docstring)."""
        try:
            butler, seen = self._free.get_nowait()
        except queue.Empty:
            butler, seen = DirectButler(self.root, writeable=True), self.generation
        current = self.generation
        if seen != current:
            butler.registry.forget_cached()
        if write:
            butler.registry.refresh_if_changed()
        try:
            yield butler
        except (DatasetNotFoundError, PermissionDeniedError):
            raise  # a miss or a refusal: nothing the caches could have got wrong (and misses are frequent)
        except BaseException:
            current = -1  # a failed request (a run removed elsewhere?): this butler forgets its caches next time
            raise
        finally:
            if changes:  # after the change: butlers taken out from now on forget what they cached before it
                with self._lock:
                    self.generation += 1
                current = -1  # and so does this one (another may have removed something meanwhile)
            self._free.put((butler, current))

    def close(self) -> None:
        """Close every idle butler."""
        while True:
            try:
                self._free.get_nowait()[0].close()
            except queue.Empty:
                return


class Context:
    """What an endpoint gets: the configuration, the pool, and the request's credentials (checked on use)."""

    def __init__(self, request: Request, authorization: str | None, header_user: str | None) -> None:
        self.config: ServerConfig = request.app.state.config
        self.pool: ButlerPool = request.app.state.pool
        base = self.config.public_url or str(request.base_url).rstrip("/")
        self.base_url = base.rstrip("/") + API_PREFIX
        self._authorization = authorization
        self._header_user = header_user

    @property
    def has_credentials(self) -> bool:
        """Whether the request carries a token or the trusted user header."""
        return bool(self._authorization or self._header_user)

    @contextmanager
    def session(self, *, write: bool = False, changes: bool = False) -> Iterator[tuple[DirectButler, Caller]]:
        """A butler and the authenticated caller (raises 403 before anything when credentials fail).

        ``write``: the request writes (the butler's caches are checked against the registry first);
        ``changes``: it may remove collections or dataset types (`ButlerPool`).
        """
        with self.pool.butler(write=write, changes=changes) as butler:
            yield butler, authenticate(self.config, butler, self._authorization, self._header_user)


async def context(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> Context:
    """The `Context` of a request (the trusted user header is read only when configured).

    A coroutine, though it awaits nothing: FastAPI runs a plain function dependency on its thread pool, a
    thread hand-off per request for a few attribute reads.
    """
    config: ServerConfig = request.app.state.config
    header_user = request.headers.get(config.trusted_user_header) if config.trusted_user_header else None
    return Context(request, authorization, header_user)


Ctx = Annotated[Context, Depends(context)]


def json_answer(answer: BaseModel | Sequence[BaseModel]) -> Response:
    """A model (or list of models) as a JSON answer, serialized once by pydantic's core.

    Returning a model lets FastAPI validate it against the route's ``response_model`` again and serialize it
    on its thread pool (a second thread hand-off); answers we build from our own models need neither.  The
    route keeps its ``response_model``, so the OpenAPI document is unchanged.
    """
    if isinstance(answer, BaseModel):
        body = answer.__pydantic_serializer__.to_json(answer)
    else:
        body = b"[" + b",".join(a.__pydantic_serializer__.to_json(a) for a in answer) + b"]"
    return Response(body, media_type="application/json")


def error_response(exc: SkyButlerError) -> JSONResponse:
    """The JSON answer of an error: its code, message and class name, with its HTTP status.

    A `ConfigError` answers 422, not its 500: the server's own configuration is checked when it starts (the
    pool opens the repository before the socket is bound), so one raised while serving a request is about an
    option the request gave (a transfer mode, an export's name, a storage class).  The client maps the code
    back, so the caller still sees a `ConfigError`.
    """
    body = ErrorModel(code=exc.code, message=str(exc), type=type(exc).__name__)
    status = 422 if isinstance(exc, ConfigError) and exc.http_status == 500 else exc.http_status
    return JSONResponse(body.model_dump(), status_code=status)


def create_app(root: str | ServerConfig, **options: Any) -> FastAPI:
    """The server of one repository: ``root`` (with `ServerConfig` ``options``) or a whole configuration.

    Examples
    --------
    >>> app = create_app("/data/repo", anonymous_grants=("read:*",))  # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8080)  # doctest: +SKIP
    """
    from skybutler import __version__
    from skybutler.server import (
        _collections_api,
        _datasets_api,
        _files_api,
        _provenance_api,
        _queries_api,
        _stored_ingest_api,
        _transfer_api,
    )

    config = root if isinstance(root, ServerConfig) else ServerConfig(str(root), **options)
    app = FastAPI(
        title="skybutler",
        version=__version__,
        description="A skybutler repository over HTTP: the remote butler's API (see docs/server.md).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.config = config
    app.state.pool = ButlerPool(config.root)

    @app.exception_handler(SkyButlerError)
    def _skybutler_error(request: Request, exc: SkyButlerError) -> JSONResponse:
        return error_response(exc)

    # Every error answer has the one body (ErrorModel), also those FastAPI makes: a request that does not
    # match its schema, an unknown path or method.
    @app.exception_handler(RequestValidationError)
    def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        body = ErrorModel(code=SkyButlerError.code, message=f"Invalid request: {problems}", type="InvalidRequest")
        return JSONResponse(body.model_dump(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = ErrorModel(code=SkyButlerError.code, message=str(exc.detail), type="HTTPError")
        return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=exc.headers)

    routers: list[APIRouter] = [
        _datasets_api.router,
        _collections_api.router,
        _queries_api.router,
        _files_api.router,
        _provenance_api.router,
        _transfer_api.router,
        _stored_ingest_api.router,
    ]
    for router in routers:
        app.include_router(router, prefix=API_PREFIX, responses=ERRORS)
    from skybutler.server.web import router as web_router  # the browser's pages (docs/web.md)

    app.include_router(web_router, prefix="/web")
    return app
