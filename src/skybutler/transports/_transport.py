"""The transport interface: bytes at keys under one root URI; knows nothing of formats or registries."""

from __future__ import annotations

import io
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, ClassVar
from urllib.parse import quote

__all__ = ["Transport", "claimed_source", "placeholder"]

_PLACEHOLDER = b"skybutler claim of "
_PLACEHOLDER_MAX = 4096


def placeholder(src: str) -> bytes:
    """The bytes of the placeholder `Transport.claim` writes at a claimed key where it cannot link."""
    return _PLACEHOLDER + src.encode()


def claimed_source(data: bytes) -> str | None:
    """The source key a `placeholder` names, or ``None`` for other bytes."""
    if not data.startswith(_PLACEHOLDER) or len(data) > _PLACEHOLDER_MAX:
        return None
    try:
        return data[len(_PLACEHOLDER) :].decode()
    except UnicodeDecodeError:
        return None


class Transport(ABC):
    """Bytes at ``/``-separated keys under one root.

    Subclasses implement five methods; the others have working defaults that a transport overrides for
    speed (local files rename in place, object stores use ranged reads).  Writes through `put` and
    `open_write` are atomic: a reader sees the old bytes or the new, never a part.
    """

    scheme: ClassVar[str]
    can_write: ClassVar[bool] = True
    is_local: ClassVar[bool] = False
    """True when keys map to local paths (`local_path` works)."""
    uri_quotes_keys: ClassVar[bool] = False
    """True when URIs percent-encode their path (``file://``, ``http://``): `uri` quotes the key, so an escaped
    template value such as ``HSC%20r`` names that very file, and a URI's path is unquoted to give the key.
    Object-store URIs (``s3://``) hold keys literally."""
    can_list: ClassVar[bool] = True
    """False where the protocol cannot list keys (plain HTTP): `keys` raises `StorageError`."""
    options: ClassVar[frozenset[str]] = frozenset()
    """Keyword options the constructor accepts (``datastore.transport`` in ``butler.yaml``)."""
    concurrency: int = 1
    """Requests worth running in parallel for bulk work (1 for local files; more for object stores)."""
    can_create: bool = False
    """True when `open_create` works: an atomic write that refuses to replace an existing key.  The datastore
    then writes each artifact at its final key (one request) instead of staging it and moving it."""

    def __init__(self, root: str) -> None:
        self.root = root if root.endswith("/") else root + "/"

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Return the bytes at ``key``; raise `ArtifactNotFoundError` if there are none."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``key`` atomically, replacing what was there."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Return whether ``key`` holds bytes."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error (deletes are retried by reconcile)."""

    @abstractmethod
    def keys(self, prefix: str = "") -> Iterator[str]:
        """Yield every key under ``prefix``."""

    # -- defaults ------------------------------------------------------------------------------------------
    def size(self, key: str) -> int:
        """Return the size in bytes of ``key``."""
        return len(self.get(key))

    def open(self, key: str) -> BinaryIO:
        """Return a seekable reader of ``key``."""
        return io.BytesIO(self.get(key))

    @contextmanager
    def open_write(self, key: str, *, atomic: bool = True) -> Iterator[BinaryIO]:
        """Yield a writable stream whose bytes land at ``key`` when the block exits without error.

        ``atomic=False`` allows writing in place when the caller already writes to a temporary name.
        """
        with tempfile.SpooledTemporaryFile(max_size=64 << 20) as tmp:
            yield tmp  # type: ignore[misc]
            tmp.seek(0)
            self.put(key, tmp.read())

    @contextmanager
    def open_create(self, key: str, *, owner: str | None = None) -> Iterator[BinaryIO]:
        """Like `open_write`, but the bytes land only if ``key`` does not exist; else `FileExistsError`.

        Only for transports with `can_create`.  Nothing is stored when the block raises.  ``owner`` (a
        dataset ID) is stored with the object and returned by `owner`, so reconcile can recognise the
        artifact of a put that crashed before registering it.
        """
        if not self.can_create:
            raise NotImplementedError(f"{type(self).__name__} cannot create keys exclusively (can_create is False).")
        raise NotImplementedError(f"{type(self).__name__} sets can_create but does not implement open_create.")
        yield  # type: ignore[unreachable]

    def owner(self, key: str) -> str | None:
        """The ``owner`` given to `open_create` for ``key``, or ``None``."""
        return None

    def claim(self, src: str, dst: str) -> bool:
        """Create ``dst`` for the bytes at ``src``, atomically refusing to replace anything at ``dst``.

        A put claims its final path this way before registering its dataset, so no two writers ever end up
        with one artifact, and no write replaces another's (DESIGN invariant 2).  Returns True when ``dst``
        now holds ``src``'s bytes (a hard link, one shared object): deleting ``src`` completes the move.
        Returns False when ``dst`` holds a placeholder naming ``src``: `move` ``src`` over it.

        The default writes the placeholder with `open_create` where `can_create`, and otherwise checks,
        then writes, which is not atomic: a transport that can do better overrides this.

        Raises
        ------
        FileExistsError
            ``dst`` exists (it is left as it was).
        ArtifactNotFoundError
            ``src`` does not exist.
        """
        if not self.exists(src):
            from skybutler.errors import ArtifactNotFoundError

            raise ArtifactNotFoundError(f"No key {src!r} in {self.root} to claim {dst!r} for.")
        if self.can_create:
            with self.open_create(dst) as f:
                f.write(placeholder(src))
            return False
        if self.exists(dst):
            raise FileExistsError(dst)
        self.put(dst, placeholder(src))
        return False

    def identity(self, key: str) -> object | None:
        """A token equal for keys that hold the same bytes by `claim` (``None``: ``key`` is gone, or no token).

        The default: a placeholder left by `claim` gives its source key, any other key itself; transports that
        link override this.  Reconcile
        uses it to tell the claim of an unregistered put from a file that is someone else's.
        """
        from skybutler.errors import ArtifactNotFoundError

        try:
            if self.size(key) <= _PLACEHOLDER_MAX:
                src = claimed_source(self.get(key))
                if src is not None:
                    return ("key", src)
        except ArtifactNotFoundError:
            return None
        return ("key", key)

    def mtime(self, key: str) -> float | None:
        """When ``key`` was last written (POSIX seconds), or ``None`` where the transport cannot tell."""
        return None

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove many keys (object stores batch them)."""
        for key in keys:
            self.delete(key)

    def url(self, key: str, *, expires_in: int = 3600) -> str | None:
        """A URL that reads ``key`` without our credentials (presigned, or public); ``None`` if there is none."""
        return None

    def upload_url(self, key: str, *, expires_in: int = 300) -> str | None:
        """A URL that takes one HTTP PUT of ``key``'s bytes without credentials, or None (the default: none).

        The remote butler's server hands it to a client that writes a dataset's file itself (object stores:
        a presigned PUT); without one, the client uploads through the server.
        """
        return None

    def move(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst`` (replacing it); object stores copy then delete."""
        self.put(dst, self.get(src))
        self.delete(src)

    def put_file(self, path: Path, key: str) -> None:
        """Store a local file's bytes at ``key``."""
        self.put(key, path.read_bytes())

    @contextmanager
    def as_local(self, key: str) -> Iterator[Path]:
        """Yield a local path holding the bytes at ``key`` (a temporary copy unless `is_local`)."""
        with tempfile.TemporaryDirectory(prefix="skybutler-") as tmp:
            path = Path(tmp) / Path(key).name
            with self.open(key) as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
            yield path

    def local_path(self, key: str) -> Path:
        """Return the local path of ``key``; only for transports with `is_local`."""
        raise TypeError(f"{type(self).__name__} keeps no local files; use as_local().")

    def uri(self, key: str) -> str:
        """Return the full URI of ``key`` (percent-encoded where the scheme's URIs are: `uri_quotes_keys`)."""
        return self.root + (quote(key) if self.uri_quotes_keys else key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root!r})"
