"""Local POSIX files: atomic writes by writing a temporary name, then `os.replace`; claims by hard links.

Directories are made on demand and removed when a delete empties them, so a writer may find the directory
it just made gone (another process removed it): every create retries a few times on ``ENOENT``, making the
directory again.  Hidden directories (the datastore's ``.staging/``) are never removed.
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import unquote, urlparse

from skybutler.errors import ArtifactNotFoundError, StorageError
from skybutler.transports._transport import _PLACEHOLDER_MAX, Transport, claimed_source, placeholder

__all__ = ["LocalTransport"]

_T = TypeVar("_T")


def _root_path(root: str) -> Path:
    if root.startswith("file:"):
        return Path(unquote(urlparse(root).path))
    return Path(root)


def _failed(action: str, path: str, exc: OSError) -> StorageError:
    """The `StorageError` for an OS error other than a missing file (permissions, a full disk, a directory)."""
    return StorageError(f"Cannot {action} {path}: {exc.strerror or exc}. Check the file system and its permissions.")


_RETRIES = 8
"""Attempts at a create whose directory a concurrent delete keeps removing (each remakes it)."""
_NO_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV})
"""`os.link` errors of file systems (or files) without hard links: `claim` writes a placeholder instead."""


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

    def _retrying(self, create: Callable[[], _T], path: str, source: str | None = None) -> _T:
        """Run ``create`` (of ``path``), making ``path``'s directory again while a concurrent delete removes it.

        Raises
        ------
        ArtifactNotFoundError
            ``source`` (the file ``create`` links or moves) does not exist.
        """
        for attempt in range(_RETRIES):
            try:
                return create()
            except FileNotFoundError:
                if source is not None and not os.path.lexists(source):  # lexists: a dangling relative symlink
                    raise ArtifactNotFoundError(f"No file {source}.") from None
                if attempt == _RETRIES - 1:
                    raise
                self._made.discard(os.path.dirname(path))
                with suppress(FileNotFoundError):  # a directory above was removed meanwhile: try again
                    self._ensure_parent(path)
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, key: str) -> bytes:
        """Return the file's bytes."""
        try:
            with open(self._base_str + key, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"No file {self._base_str + key}.") from None
        except OSError as exc:
            raise _failed("read", self._base_str + key, exc) from exc

    def read_prefix(self, key: str, limit: int) -> tuple[bytes, str]:
        """Up to ``limit`` bytes from the start of the file, in one ``read`` call, and the file's path.

        For the checked read of a small file: ``os.open``, one ``os.read``, ``os.close`` and nothing else
        (`open` would add an ``fstat``, an ``ioctl``, an ``lseek`` and a buffer); a regular file hands back
        every byte asked for up to its end.
        """
        path = self._base_str + key
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"No file {path}.") from None
        except OSError as exc:
            raise _failed("read", path, exc) from exc
        try:
            return os.read(fd, limit), path
        except OSError as exc:  # a directory: EISDIR
            raise _failed("read", path, exc) from exc
        finally:
            os.close(fd)

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
            f = self._retrying(lambda: open(tmp, "wb"), final)
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
        if parent != str(self.base) and not os.path.basename(parent).startswith("."):
            try:
                os.rmdir(parent)
                self._made.discard(parent)
            except OSError:
                pass

    def delete_many(self, keys: Iterable[str]) -> None:
        """`delete` each key (a missing file is fine), trying each emptied directory once at the end.

        A merge drops 20 000 names at a time (pending names and attempt markers): one ``unlink`` each and
        nothing else per name, instead of `delete`'s path arithmetic for every one.
        """
        base = self._base_str
        parents: set[str] = set()
        for key in keys:
            path = base + key
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _failed("delete", path, exc) from exc
            parents.add(key.rpartition("/")[0])
        for parent_key in parents:
            if parent_key and not parent_key.rpartition("/")[2].startswith("."):
                parent = os.path.dirname(base + parent_key + "/x")
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
        target, source = self._base_str + dst, self._base_str + src
        try:
            self._retrying(lambda: os.replace(source, target), target, source)
        except ArtifactNotFoundError:
            raise
        except OSError as exc:
            raise _failed("move a file to", target, exc) from exc

    def claim(self, src: str, dst: str) -> bool:
        """Hard-link ``src`` as ``dst`` (``link`` fails on an existing name); a placeholder where links fail."""
        target, source = self._base_str + dst, self._base_str + src
        try:
            self._retrying(lambda: os.link(source, target, follow_symlinks=False), target, source)
            return True
        except (FileExistsError, ArtifactNotFoundError):
            raise
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise _failed("create", target, exc) from exc
        try:  # O_EXCL: created by us or not at all
            fd = self._retrying(lambda: os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), target)
        except FileExistsError:
            raise
        except OSError as exc:
            raise _failed("create", target, exc) from exc
        with os.fdopen(fd, "wb") as f:
            f.write(placeholder(src))
        return False

    def identity(self, key: str) -> object | None:
        """The file's device and inode (a claim's hard link shares them); a placeholder gives its source's."""
        try:
            st = os.lstat(self._base_str + key)
        except OSError:
            return None
        if st.st_nlink > 1 or st.st_size > _PLACEHOLDER_MAX:
            return (st.st_dev, st.st_ino)
        src = claimed_source(self.get(key)) if stat.S_ISREG(st.st_mode) else None
        return (st.st_dev, st.st_ino) if src is None else self.identity(src)

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
