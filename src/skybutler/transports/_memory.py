"""In-memory transport: a dict of bytes per root, shared within one process (tests and scratch data)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from skybutler.errors import ArtifactNotFoundError
from skybutler.transports._transport import Transport

__all__ = ["MemoryTransport"]

_STORES: dict[str, dict[str, bytes]] = {}
_LOCK = threading.Lock()
_TOKENS: dict[str, dict[str, object]] = {}
"""Per root, key → a token made by each write and shared by a claim (`MemoryTransport.identity`): equal bytes
may be one object (``bytes(b)`` is ``b``; short values are cached), so objects cannot serve."""


class MemoryTransport(Transport):
    """Keys in a process-wide dict named by the root URI (``mem://name/``); gone when the process ends."""

    scheme = "mem"

    def __init__(self, root: str) -> None:
        super().__init__(root)
        with _LOCK:
            self._store = _STORES.setdefault(self.root, {})
            self._tokens = _TOKENS.setdefault(self.root, {})

    def get(self, key: str) -> bytes:
        """Return the stored bytes."""
        try:
            return self._store[key]
        except KeyError:
            raise ArtifactNotFoundError(f"No key {key!r} in {self.root}.") from None

    def put(self, key: str, data: bytes) -> None:
        """Store a copy of ``data``."""
        self._store[key] = bytes(data)
        self._tokens[key] = object()

    def exists(self, key: str) -> bool:
        """Return whether the key is stored."""
        return key in self._store

    def delete(self, key: str) -> None:
        """Forget the key."""
        self._store.pop(key, None)
        self._tokens.pop(key, None)

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Yield stored keys under ``prefix``."""
        yield from [k for k in self._store if k.startswith(prefix)]

    def claim(self, src: str, dst: str) -> bool:
        """Store ``src``'s bytes at ``dst`` too, unless ``dst`` exists (checked and set under one lock)."""
        with _LOCK:
            if dst in self._store:
                raise FileExistsError(dst)
            try:
                data = self._store[src]
            except KeyError:
                raise ArtifactNotFoundError(f"No key {src!r} in {self.root} to claim {dst!r} for.") from None
            self._store[dst] = data
            self._tokens[dst] = self._tokens.setdefault(src, object())
        return True

    def identity(self, key: str) -> object | None:
        """The token of the write that stored ``key`` (shared by `claim`)."""
        return self._tokens.get(key)

    def move(self, src: str, dst: str) -> None:
        """Re-key without copying."""
        try:
            self._store[dst] = self._store.pop(src)
            self._tokens[dst] = self._tokens.pop(src, None) or object()
        except KeyError:
            raise ArtifactNotFoundError(f"No key {src!r} in {self.root} to move.") from None
