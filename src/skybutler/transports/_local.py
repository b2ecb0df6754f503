"""Local POSIX files: atomic writes by writing a temporary name, then `os.replace`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from skybutler.errors import ArtifactNotFoundError, StorageError
from skybutler.transports._transport import Transport

__all__ = ["LocalTransport"]


def _root_path(root: str) -> Path:
    if root.startswith("file:"):
        return Path(unquote(urlparse(root).path))
    return Path(root)


def _failed(action: str, path: str, exc: OSError) -> StorageError:
    """The `StorageError` for an OS error other than a missing file (permissions, a full disk, a directory)."""
    return StorageError(f"Cannot {action} {path}: {exc.strerror or exc}. Check the file system and its permissions.")


class LocalTransport(Transport):
    """Keys are paths relative to a local directory."""

    scheme = "file"
    is_local = True
    uri_quotes_keys = True

    def __init__(self, root: str) -> None:
        self.base = _root_path(root).absolute()
        super().__init__(self.base.as_uri())
        self._base_str = str(self.base) + os.sep
        self._made: set[str] = set()

    def local_path(self, key: str) -> Path:
        """Return the absolute path of ``key``."""
        return Path(self._base_str + key)

    def _ensure_parent(self, path: str) -> None:
        parent = os.path.dirname(path)
        if parent not in self._made:
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)

    def get(self, key: str) -> bytes:
        """Return the file's bytes."""
        try:
            with open(self._base_str + key, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"No file {self._base_str + key}.") from None
        except OSError as exc:
            raise _failed("read", self._base_str + key, exc) from exc

    def put(self, key: str, data: bytes) -> None:
        """Write to a temporary name beside the target, then rename over it."""
        with self.open_write(key) as f:
            f.write(data)

    @contextmanager
    def open_write(self, key: str, *, atomic: bool = True) -> Iterator[BinaryIO]:
        """Yield a file at a temporary name that is renamed to ``key`` on success and removed on failure.

        With ``atomic=False`` the file is written at ``key`` itself (for callers writing staging names).
        """
        final = self._base_str + key
        tmp = f"{final}.tmp-{uuid.uuid4().hex[:12]}" if atomic else final
        try:
            f = open(tmp, "wb")
        except FileNotFoundError:
            self._made.discard(os.path.dirname(final))
            self._ensure_parent(final)
            f = open(tmp, "wb")
        except OSError as exc:
            raise StorageError(f"Cannot write {final}: {exc}") from exc
        try:
            with f:
                yield f
            if atomic:
                os.replace(tmp, final)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def exists(self, key: str) -> bool:
        """Return whether the file exists."""
        return os.path.exists(self._base_str + key)

    def size(self, key: str) -> int:
        """Return the file size."""
        try:
            return os.stat(self._base_str + key).st_size
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"No file {self._base_str + key}.") from None
        except OSError as exc:
            raise _failed("look at", self._base_str + key, exc) from exc

    def delete(self, key: str) -> None:
        """Remove the file, and its directory when that becomes empty; a missing file is fine."""
        path = self._base_str + key
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _failed("delete", path, exc) from exc
        parent = os.path.dirname(path)
        if parent != str(self.base):
            try:
                os.rmdir(parent)
                self._made.discard(parent)
            except OSError:
                pass

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Yield every file under ``prefix``, as keys."""
        start = self.base / prefix if prefix else self.base
        if start.is_file():
            yield prefix
            return
        for dirpath, _dirs, files in os.walk(start):
            rel = os.path.relpath(dirpath, self.base)
            for name in files:
                yield name if rel == "." else f"{rel}/{name}".replace(os.sep, "/")

    def open(self, key: str) -> BinaryIO:
        """Open the file for reading."""
        try:
            return open(self._base_str + key, "rb")
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"No file {self._base_str + key}.") from None
        except OSError as exc:
            raise _failed("open", self._base_str + key, exc) from exc

    def move(self, src: str, dst: str) -> None:
        """Rename within the root (atomic on POSIX)."""
        target = self._base_str + dst
        try:
            try:
                os.replace(self._base_str + src, target)
            except FileNotFoundError:
                if not os.path.lexists(self._base_str + src):  # lexists: a relative symlink may dangle until moved
                    raise ArtifactNotFoundError(f"No file {self._base_str + src} to move.") from None
                self._made.discard(os.path.dirname(target))
                self._ensure_parent(target)
                os.replace(self._base_str + src, target)
        except ArtifactNotFoundError:
            raise
        except OSError as exc:
            raise _failed("move a file to", target, exc) from exc

    def put_file(self, path: Path, key: str) -> None:
        """Copy a local file in (atomically)."""
        import shutil

        with open(path, "rb") as src, self.open_write(key) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)

    @contextmanager
    def as_local(self, key: str) -> Iterator[Path]:
        """Yield the file's own path (no copy)."""
        path = self.local_path(key)
        if not path.exists():
            raise ArtifactNotFoundError(f"No file {path}.")
        yield path
