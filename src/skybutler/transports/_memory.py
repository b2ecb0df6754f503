"""In-memory transport: a dict of bytes per root, shared within one process (tests and scratch data)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from skybutler.errors import ArtifactNotFoundError
from skybutler.transports._transport import Transport

__all__ = ["MemoryTransport"]

_STORES: dict[str, dict[str, bytes]] = {}
_LOCK = threading.Lock()


class _Blob(bytes):
    """Stored bytes: one object per write (``bytes(b)`` may return ``b`` itself), so `identity` can tell writes
    apart, and a claim shares its source's object."""

    __slots__ = ()


class MemoryTransport(Transport):
    """Keys in a process-wide dict named by the root URI (``mem://name/``); gone when the process ends."""

    scheme = "mem"

    def __init__(self, root: str) -> None:
        super().__init__(root)
        with _LOCK:
            self._store = _STORES.setdefault(self.root, {})

    def get(self, key: str) -> bytes:
        """Return the stored bytes."""
        try:
            return self._store[key]
        except KeyError:
            raise ArtifactNotFoundError(f"No key {key!r} in {self.root}.") from None

    def put(self, key: str, data: bytes) -> None:
        """Store a copy of ``data``."""
        self._store[key] = _Blob(data)

    def exists(self, key: str) -> bool:
        """Return whether the key is stored."""
        return key in self._store

    def delete(self, key: str) -> None:
        """Forget the key."""
        self._store.pop(key, None)

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Yield stored keys under ``prefix``."""
        yield from [k for k in self._store if k.startswith(prefix)]

    def claim(self, src: str, dst: str) -> bool:
        """Store ``src``'s bytes at ``dst`` too, unless ``dst`` exists (checked and set under one lock)."""
        with _LOCK:
            if dst in self._store:
                raise FileExistsError(dst)
            try:
                self._store[dst] = self._store[src]
            except KeyError:
                raise ArtifactNotFoundError(f"No key {src!r} in {self.root} to claim {dst!r} for.") from None
        return True

    def identity(self, key: str) -> object | None:
        """The stored object's id (shared by `claim`; the object lives while the key does)."""
        data = self._store.get(key)
        return None if data is None else id(data)

    def move(self, src: str, dst: str) -> None:
        """Re-key without copying."""
        try:
            self._store[dst] = self._store.pop(src)
        except KeyError:
            raise ArtifactNotFoundError(f"No key {src!r} in {self.root} to move.") from None
