"""A static-file HTTP server on loopback that honours ``Range``, for testing read-only HTTP transports."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

__all__ = ["RangeServer", "http_root"]

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class _Handler(SimpleHTTPRequestHandler):
    """GET and HEAD of files under the served directory, with single ``Range: bytes=a-b`` requests."""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        size = path.stat().st_size
        start, stop, status = 0, size, 200
        match = _RANGE.match(self.headers.get("Range", ""))
        if match:
            start = int(match[1])
            stop = min(int(match[2]) + 1, size) if match[2] else size
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(stop - start))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        self.end_headers()
        if body:
            with open(path, "rb") as f:
                f.seek(start)
                self.wfile.write(f.read(stop - start))


class RangeServer:
    """Serve ``directory`` at ``http://127.0.0.1:<free port>/`` from a background thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

        def handler(*args: Any) -> _Handler:
            return _Handler(*args, directory=os.fspath(directory))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The root URL, ending in ``/``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> RangeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``(url, directory)``: a loopback HTTP server with ``Range`` support over a fresh directory."""
    directory = tmp_path / "served"
    directory.mkdir()
    with RangeServer(directory) as server:
        yield server.url, directory
