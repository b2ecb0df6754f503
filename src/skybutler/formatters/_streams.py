"""A write-only view of a stream, for libraries that look behind file objects or need a few attributes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["BAND_LIMIT", "OutputStream", "local_name"]

#: A cut-out reads its whole band of rows in one request when that is at most this many bytes: one
#: contiguous read beats one small read per row on a cold disk (fewer seeks) and on object stores (fewer
#: requests), and costs little more than the rows themselves in the page cache.
BAND_LIMIT = 16 << 20


def local_name(stream: Any) -> str | None:
    """The path of the local file ``stream`` reads, when it has one (``stream.name``), else ``None``.

    A library's own file driver (HDF5's, Arrow's) reads a local file several times faster than calls back
    into a Python file object; a formatter may reopen the file by this name, and falls back to the stream
    when it cannot.
    """
    name = getattr(stream, "name", None)
    return name if isinstance(name, str) and Path(name).is_file() else None


class OutputStream:
    """Only the writing half of a stream, which counts what it writes (``tell``).

    astropy looks through ``.raw`` / ``.buffer`` for a real file and writes to that directly, which would
    bypass a hashing wrapper such as the datastore's; pyarrow asks whether the stream is ``closed``.
    Wrapping hides the one and answers the other, so both write sequentially through the wrapper.
    """

    closed = False

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._position = 0

    def write(self, data: Any) -> int:
        """Forward ``data``; return its size in bytes."""
        self._stream.write(data)
        size = memoryview(data).nbytes
        self._position += size
        return size

    def tell(self) -> int:
        """Bytes written so far."""
        return self._position

    def flush(self) -> None:
        """Flush the underlying stream."""
        self._stream.flush()

    def writable(self) -> bool:
        """Always true."""
        return True

    def seekable(self) -> bool:
        """Never: writes are sequential."""
        return False

    def close(self) -> None:
        """Do nothing: the stream belongs to the caller."""
