"""Checksums computed while bytes stream to storage, and re-checked by ``verify``."""

from __future__ import annotations

import hashlib
from typing import Any, BinaryIO

__all__ = ["HashingWriter", "checksum_stream"]


class HashingWriter:
    """A write-only stream that hashes and counts what passes through to ``raw``."""

    def __init__(self, raw: BinaryIO, algorithm: str) -> None:
        self.raw = raw
        self.size = 0
        self.algorithm = algorithm
        self._hash = hashlib.blake2b(digest_size=16) if algorithm == "blake2b" else None

    def write(self, data: Any) -> int:
        """Hash and forward ``data``."""
        if self._hash is not None:
            self._hash.update(data)
        self.raw.write(data)
        written = memoryview(data).nbytes
        self.size += written
        return written

    def flush(self) -> None:
        """Flush the underlying stream."""
        self.raw.flush()

    def writable(self) -> bool:
        """Always true."""
        return True

    def seekable(self) -> bool:
        """Never: checksums need sequential writes."""
        return False

    def tell(self) -> int:
        """Bytes written so far."""
        return self.size

    @property
    def checksum(self) -> str | None:
        """``"blake2b:<hex>"``, or ``None`` when checksums are off."""
        return None if self._hash is None else f"{self.algorithm}:{self._hash.hexdigest()}"


def checksum_stream(stream: BinaryIO, algorithm: str) -> tuple[str, int]:
    """Return ``(checksum, size)`` of everything left in ``stream``."""
    h = hashlib.blake2b(digest_size=16)
    size = 0
    while chunk := stream.read(1 << 20):
        h.update(chunk)
        size += len(chunk)
    return f"{algorithm}:{h.hexdigest()}", size
