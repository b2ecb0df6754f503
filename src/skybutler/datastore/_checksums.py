"""Checksums computed while bytes stream to storage, and re-checked by ``verify``.

A recorded checksum is ``"<algorithm>:<hex digest>"``, so changing the default never makes old checksums
unverifiable.  The default, xxh3-128, is a fast non-cryptographic hash (about 30 GB/s): it detects
corruption, which is what a datastore checksum is for, at a cost far below the write itself; blake2b
(about 1.3 GB/s) remains available where a cryptographic digest is wanted.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    from skybutler.datasets import ArtifactInfo

__all__ = ["ALGORITHMS", "HashingWriter", "algorithm_of", "checksum_stream", "mismatch", "new_hasher"]

ALGORITHMS = ("xxh3_128", "blake2b")


class _Hasher(Protocol):
    def update(self, data: Any, /) -> None: ...

    def hexdigest(self) -> str: ...


def new_hasher(algorithm: str) -> _Hasher:
    """A fresh hasher for ``algorithm`` (one of `ALGORITHMS`)."""
    if algorithm == "xxh3_128":
        import xxhash

        return xxhash.xxh3_128()
    if algorithm == "blake2b":
        return hashlib.blake2b(digest_size=16)
    raise ValueError(f"Unknown checksum algorithm {algorithm!r}; use one of {ALGORITHMS}.")


class HashingWriter:
    """A write-only stream that hashes and counts what passes through to ``raw``."""

    def __init__(self, raw: BinaryIO, algorithm: str) -> None:
        self.raw = raw
        self.size = 0
        self.algorithm = algorithm
        self._hash = None if algorithm == "none" else new_hasher(algorithm)

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
        """``"<algorithm>:<hex>"``, or ``None`` when checksums are off."""
        return None if self._hash is None else f"{self.algorithm}:{self._hash.hexdigest()}"


def checksum_stream(stream: BinaryIO, algorithm: str) -> tuple[str, int]:
    """Return ``(checksum, size)`` of everything left in ``stream``."""
    h = new_hasher(algorithm)
    size = 0
    while chunk := stream.read(4 << 20):
        h.update(chunk)
        size += len(chunk)
    return f"{algorithm}:{h.hexdigest()}", size


def algorithm_of(artifact: ArtifactInfo) -> str:
    """The algorithm of an artifact's recorded checksum (the default one where none was recorded)."""
    return (artifact.checksum or "xxh3_128:").partition(":")[0]


def mismatch(artifact: ArtifactInfo, checksum: str, size: int) -> str | None:
    """How the bytes read differ from the record, or ``None``."""
    if size != artifact.size:
        return f"{size} bytes but {artifact.size} were recorded"
    if artifact.checksum is not None and checksum != artifact.checksum:
        return f"checksum {checksum} but {artifact.checksum} was recorded"
    return None
