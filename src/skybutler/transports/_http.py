"""HTTP(S), read-only, through httpx: whole GETs, and ranged GETs behind a seekable reader for cut-outs.

A laptop reads a repository's files over HTTP from any web server that honours ``Range`` (nginx, Apache,
S3 and GCS public endpoints, presigned URLs).  Listing is not part of HTTP, so `keys` raises; writing
(WebDAV) is not offered: PUT + MOVE + MKCOL per directory differs between servers, and no HTTP verb gives an
atomic, exclusive create we could rely on.  Credentials come from ``~/.netrc`` (httpx's ``trust_env``)
and proxies from the standard environment variables; none is ever taken from configuration.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, BinaryIO, ClassVar, NoReturn

from skybutler.errors import ArtifactNotFoundError, StorageError
from skybutler.transports._ranged import FIRST_READ, RangedReader
from skybutler.transports._transport import Transport

if TYPE_CHECKING:
    import httpx

__all__ = ["HttpTransport"]


class HttpTransport(Transport):
    """Files under an ``http://`` or ``https://`` root, read-only.

    Parameters
    ----------
    root
        Base URL; keys are appended to it.
    timeout
        Seconds to wait for a connection or a read.
    verify
        Check TLS certificates (turn off only for a test server).
    """

    scheme = "https"
    can_write: ClassVar[bool] = False
    can_list: ClassVar[bool] = False
    uri_quotes_keys: ClassVar[bool] = True  # the server unquotes the path: key "a%20b" is the URL "a%2520b"
    options: ClassVar[frozenset[str]] = frozenset({"timeout", "verify", "max_concurrency"})

    def __init__(self, root: str, *, timeout: float = 30.0, verify: bool = True, max_concurrency: int = 8) -> None:
        super().__init__(root)
        self.timeout = timedelta(seconds=timeout)
        self.verify = verify
        self.concurrency = max_concurrency
        self.bytes_read = 0
        """Bytes received by this transport (whole and ranged reads)."""
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._pid = -1

    @property
    def client(self) -> httpx.Client:
        """This process's httpx client (thread-safe; not shared across ``fork``)."""
        client = self._client
        if client is not None and self._pid == os.getpid():
            return client
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                import httpx

                self._client = httpx.Client(
                    timeout=self.timeout.total_seconds(),
                    verify=self.verify,
                    follow_redirects=True,
                    limits=httpx.Limits(max_connections=max(self.concurrency, 10)),
                )
                self._pid = os.getpid()
            return self._client

    def _request(self, method: str, key: str, headers: dict[str, str] | None = None) -> httpx.Response:
        import httpx

        try:
            response = self.client.request(method, self.uri(key), headers=headers)
        except httpx.HTTPError as exc:
            raise StorageError(
                f"Cannot {method} {self.uri(key)}: {type(exc).__name__}: {exc}. Check the URL and the network."
            ) from exc
        if response.status_code == 404:
            raise ArtifactNotFoundError(f"No file at {self.uri(key)} (HTTP 404).")
        if response.status_code >= 400 and response.status_code != 416:
            raise StorageError(
                f"Cannot {method} {self.uri(key)}: HTTP {response.status_code} {response.reason_phrase}"
                + (" (credentials go in ~/.netrc)." if response.status_code in (401, 403) else ".")
            )
        return response

    def get(self, key: str) -> bytes:
        """One GET of the whole file."""
        data = self._request("GET", key).content
        self.bytes_read += len(data)
        return data

    def _range(self, key: str, start: int, stop: int) -> tuple[bytes, int]:
        response = self._request("GET", key, {"Range": f"bytes={start}-{stop - 1}"})
        if response.status_code == 416:  # nothing at ``start``: an empty file
            return b"", self.size(key)
        data = response.content
        self.bytes_read += len(data)
        if response.status_code == 206:
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            return data, int(total) if total.isdigit() else self.size(key)
        return data[start:stop], len(data)  # the server ignored Range and sent the whole file

    def open(self, key: str) -> BinaryIO:
        """A seekable reader fetching byte ranges (the server must honour ``Range`` for partial reads)."""
        head, size = self._range(key, 0, FIRST_READ)

        def fetch(start: int, stop: int) -> bytes:
            return self._range(key, start, stop)[0]

        return RangedReader(fetch, size, self.uri(key), head)  # type: ignore[return-value]

    def exists(self, key: str) -> bool:
        """One HEAD."""
        try:
            self._request("HEAD", key)
        except ArtifactNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        """``Content-Length`` of a HEAD."""
        length = self._request("HEAD", key).headers.get("Content-Length")
        if length is None:
            return len(self.get(key))
        return int(length)

    def url(self, key: str, *, expires_in: int = 3600) -> str | None:
        """The file's own URL (public, or readable with the same credentials)."""
        return self.uri(key)

    # -- writes and listing: not part of plain HTTP ------------------------------------------------------------
    def _read_only(self, action: str) -> NoReturn:
        raise StorageError(
            f"Cannot {action} under {self.root}: the HTTP transport is read-only. Write through the "
            "repository's own storage (a local path or s3://) and serve it over HTTP for readers."
        )

    def put(self, key: str, data: bytes) -> None:
        """Refused: read-only."""
        self._read_only("write")

    def delete(self, key: str) -> None:
        """Refused: read-only."""
        self._read_only("delete")

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Refused: HTTP cannot list."""
        self._read_only("list")

    def move(self, src: str, dst: str) -> None:
        """Refused: read-only."""
        self._read_only("move")
