"""A seekable reader over ranged requests, for object stores and HTTP servers.

Formatters seek and read (a FITS header, then one band of rows; an HDF5 chunk index, then one chunk), so a
remote artifact is read as a seekable file that fetches only the byte ranges asked for.  Read-ahead adapts:
it starts at `MIN_READAHEAD` after a seek and doubles on every read that continues where the last one
ended, up to `MAX_READAHEAD`, so a whole-file read takes a few large requests and a cut-out a few small ones.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

__all__ = ["FIRST_READ", "MAX_READAHEAD", "MIN_READAHEAD", "RangedReader"]

MIN_READAHEAD = 64 << 10
MAX_READAHEAD = 16 << 20
#: The first request of `open` asks for this much: most artifacts (metadata, small arrays, catalogs of a
#: few thousand rows) arrive whole in one round trip, while a cut-out of a large image pays little for it.
FIRST_READ = 256 << 10

#: ``fetch(start, stop)`` returns the bytes ``[start, stop)`` (fewer only at the end of the object).
Fetch = Callable[[int, int], bytes]


class RangedReader(io.RawIOBase):
    """A read-only, seekable binary file whose bytes come from ``fetch(start, stop)`` calls.

    Parameters
    ----------
    fetch
        Returns the bytes in ``[start, stop)``.
    size
        Total size of the object.
    name
        What to call the object in messages (its URI; not a local path, so libraries do not reopen it).
    head
        Bytes already fetched from offset 0 (the first request of `open` often returns the whole object).
    """

    def __init__(self, fetch: Fetch, size: int, name: str, head: bytes = b"") -> None:
        super().__init__()
        self._fetch = fetch
        self.size = size
        self.uri = name
        self._pos = 0
        self._block_start = 0
        self._block = head
        self._readahead = MIN_READAHEAD
        self.requests = 0
        """Ranged requests made through this reader (not counting ``head``)."""

    def readable(self) -> bool:
        """Always true."""
        return True

    def seekable(self) -> bool:
        """Always true."""
        return True

    def tell(self) -> int:
        """The current position."""
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position (no request is made until a read)."""
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"Invalid whence {whence}.")
        if pos < 0:
            raise ValueError(f"Negative seek position {pos}.")
        self._pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the current position; return how many bytes were read (short only at the end).

        Libraries (astropy) treat a short read as the end of the file, so this fills the whole buffer.
        """
        view = memoryview(buffer).cast("B")
        total = 0
        while total < len(view):
            count = self._read_some(view[total:])
            if not count:
                break
            total += count
        return total

    def _read_some(self, view: memoryview) -> int:
        wanted = min(len(view), self.size - self._pos)
        if wanted <= 0:
            return 0
        offset = self._pos - self._block_start
        if 0 <= offset < len(self._block):  # served from the last block, at least in part
            count = min(wanted, len(self._block) - offset)
            view[:count] = self._block[offset : offset + count]
            self._pos += count
            return count
        sequential = self._pos == self._block_start + len(self._block)
        self._readahead = min(self._readahead * 2, MAX_READAHEAD) if sequential else MIN_READAHEAD
        if wanted >= self._readahead:  # a large read: straight into the caller's buffer, no copy kept
            data = self._get(self._pos, self._pos + wanted)
            view[: len(data)] = data
            self._block_start, self._block = self._pos, b""
            self._pos += len(data)
            self._block_start = self._pos
            return len(data)
        stop = min(self._pos + self._readahead, self.size)
        self._block_start, self._block = self._pos, self._get(self._pos, stop)
        count = min(wanted, len(self._block))
        view[:count] = self._block[:count]
        self._pos += count
        return count

    def readall(self) -> bytes:
        """Read to the end in one request."""
        if self._pos >= self.size:
            return b""
        offset = self._pos - self._block_start
        if offset == 0 and len(self._block) == self.size - self._pos:
            data = self._block
        else:
            data = self._get(self._pos, self.size)
        self._pos = self.size
        return data

    def _get(self, start: int, stop: int) -> bytes:
        self.requests += 1
        return self._fetch(start, stop)

    @property
    def name(self) -> str:
        """The object's URI."""
        return self.uri
