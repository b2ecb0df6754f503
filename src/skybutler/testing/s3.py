"""A real S3 HTTP endpoint on loopback for tests: moto's server mode, reached by boto3 through ``endpoint_url``.

No in-process patching: requests go over TCP to a local server, so timeouts, retries, connection errors and
ranged GETs behave as they do against a real store.  moto accepts any credentials; the session fixture sets
dummy ones only where the environment has none, and restores the environment afterwards.
"""

from __future__ import annotations

import functools
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["MotoServer", "new_bucket", "s3_endpoint", "s3_root"]

_DUMMY_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


_CONDITIONAL_LOCK = threading.Lock()


def _make_conditional_puts_atomic() -> None:
    """Give moto's server S3's guarantee that a conditional PUT (``If-None-Match: *``, ``If-Match``) is atomic.

    moto checks the condition and then stores the object in two steps, with nothing between them: two writers
    racing for one new key on its threaded server can both be told 200, which real S3 never does (one gets
    412).  skybutler's exclusive-create protocol relies on that guarantee, and its race tests are about our
    side of it, so the server's PUT handler runs one request at a time.  Idempotent.
    """
    from moto.s3.responses import S3Response

    handler = S3Response.put_object
    if getattr(handler, "_skybutler_atomic", False):
        return

    @functools.wraps(handler)
    def atomic(self: Any) -> Any:
        with _CONDITIONAL_LOCK:
            return handler(self)

    atomic._skybutler_atomic = True  # type: ignore[attr-defined]
    S3Response.put_object = atomic  # type: ignore[method-assign]


class MotoServer:
    """moto's S3 server on 127.0.0.1 that can be stopped and started again on the same port (fault tests)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._server: Any = None

    def start(self) -> str:
        """Start serving; return the endpoint URL."""
        from moto.server import ThreadedMotoServer

        _make_conditional_puts_atomic()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        return self.endpoint

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop serving and free the port (moto's own ``stop`` leaves the socket open)."""
        if self._server is not None:
            self._server.stop()
            self._server._server.server_close()
            self._server = None


def _set_dummy_credentials() -> dict[str, str | None]:
    saved = {name: os.environ.get(name) for name in _DUMMY_ENV}
    for name, value in _DUMMY_ENV.items():
        os.environ.setdefault(name, value)
    return saved


def _restore(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def new_bucket(endpoint: str) -> str:
    """Create a bucket with a fresh name at ``endpoint``; return its name."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint on loopback (moto's server mode on a free port), shared by the session."""
    pytest.importorskip("moto.server")
    pytest.importorskip("boto3")
    saved = _set_dummy_credentials()
    server = MotoServer()
    try:
        yield server.start()
    finally:
        server.stop()
        _restore(saved)


@pytest.fixture
def s3_root(s3_endpoint: str) -> str:
    """``s3://<new bucket>/repo/`` on the session's endpoint (pass ``endpoint_url=s3_endpoint`` to open it)."""
    return f"s3://{new_bucket(s3_endpoint)}/repo/"
