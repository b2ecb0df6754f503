"""A local cache of remote artifacts: size-bounded, checksum-verified, shared safely by several processes.

Files are named by their recorded checksum (content addressing), so a cached file can only ever hold the
bytes the registry recorded: it is hashed while downloading and kept only if it matches.  Several processes
may share one directory: each downloads to a private temporary name and renames it into place (the rename is
atomic, and two processes fetching the same artifact rename identical bytes); eviction of the least
recently used files runs under a file lock, and a reader that already opened a file keeps reading it after
eviction (POSIX unlink semantics).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from skybutler.datastore._checksums import HashingWriter, checksum_file
from skybutler.errors import CorruptArtifactError, StorageError

if TYPE_CHECKING:
    from skybutler.datasets import ArtifactInfo

__all__ = ["ArtifactCache", "CacheStatus"]

_TMP = ".tmp-"
_LOCK = ".lock"


@dataclass(frozen=True, slots=True)
class CacheStatus:
    """What a cache directory holds."""

    directory: Path
    files: int
    bytes: int
    max_bytes: int


class ArtifactCache:
    """Artifacts copied from a remote transport into ``directory``, at most ``max_bytes`` in total."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self.listings = 0
        """How many times the directory was listed (for eviction): once, then only as it nears its bound."""
        self._listed: int | None = None
        """Bytes in the directory at its last listing (None: not listed yet by this process)."""
        self._added = 0
        """Bytes this process downloaded since that listing."""

    def _name(self, artifact: ArtifactInfo) -> Path:
        algorithm, _, digest = (artifact.checksum or "").partition(":")
        suffix = "".join(Path(artifact.path).suffixes[-2:])
        return self.directory / f"{digest[:2]}" / f"{algorithm}-{digest}{suffix}"

    def open(
        self,
        artifact: ArtifactInfo,
        source: Callable[[], BinaryIO],
        uri: str,
        *,
        check: bool = True,
        whole: bool = True,
    ) -> BinaryIO:
        """A local file of the artifact's bytes: from the cache, or downloaded, verified and kept.

        A download is always hashed and kept only if it matches.  A hit is checked too when ``check``
        (``datastore.verify_on_read``): its size always, its checksum for a ``whole`` read (a partial read
        checks the size only, as for any file); a cached copy that no longer matches (a damaged cache disk,
        a hand edit) is the cache's fault, not the dataset's, so it is dropped and downloaded again.

        Raises
        ------
        CorruptArtifactError
            The downloaded bytes differ from the record (nothing is cached).
        """
        path = self._name(artifact)
        try:
            stream = open(path, "rb")  # noqa: SIM115 (handed to the caller)
        except FileNotFoundError:
            pass
        else:
            if not check or self._intact(stream, artifact, whole):
                self.hits += 1
                try:
                    os.utime(path)  # recently used: evicted last
                except FileNotFoundError:
                    pass  # evicted by another process after we opened it: our handle still reads it
                return stream
            stream.close()
            path.unlink(missing_ok=True)
        self.misses += 1
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{_TMP}{uuid.uuid4().hex}")
        algorithm = (artifact.checksum or "").partition(":")[0]
        try:
            with source() as src, open(tmp, "wb") as dst:
                writer = HashingWriter(dst, algorithm)
                shutil.copyfileobj(src, writer, 4 << 20)
            if writer.size != artifact.size or writer.checksum != artifact.checksum:
                raise CorruptArtifactError(
                    f"The file of this dataset is corrupt: {uri} has {writer.size} bytes and checksum "
                    f"{writer.checksum}, but {artifact.size} bytes and {artifact.checksum} were recorded. Restore "
                    "it from a copy, or remove the dataset and put it again; butler.verify() finds others."
                )
            stream = open(tmp, "rb")  # noqa: SIM115 (opened before the rename, so eviction cannot race it)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        try:
            self._account(path, writer.size)
        except BaseException as exc:  # a failed eviction (a lock that times out) must not leak the open file
            stream.close()
            if isinstance(exc, OSError):
                raise StorageError(
                    f"The read cache {self.directory} could not be kept within its bound: {exc}. Make "
                    "datastore.cache.directory a folder this process can write, or turn the cache off."
                ) from exc
            raise
        return stream

    def _account(self, added: Path, size: int) -> None:
        """Count a download; list the directory and evict only when it may have passed its bound.

        Listing a large cache costs a ``stat`` per file: it is done on the first download of this process,
        then again only when what this process added since the last listing could push the directory past
        ``max_bytes``, or past a tenth of it (other processes sharing the directory add files too, and
        are seen at the next listing).
        """
        self._added += size
        if self._listed is not None:
            estimate = self._listed + self._added
            if estimate <= self.max_bytes and self._added <= self.max_bytes // 10:
                return
        self._evict(keep=added)

    @staticmethod
    def _intact(stream: BinaryIO, artifact: ArtifactInfo, whole: bool) -> bool:
        """Whether a cached file still holds the recorded size (and, for ``whole`` reads, checksum)."""
        algorithm = (artifact.checksum or "").partition(":")[0] if whole else None
        checksum, size, _ = checksum_file(stream, algorithm or None)
        stream.seek(0)  # a small file was read to its end
        return size == artifact.size and (checksum is None or checksum == artifact.checksum)

    def _evict(self, keep: Path) -> None:
        """Delete least recently used files until the total fits ``max_bytes`` (under the directory's lock)."""
        from filelock import FileLock

        with FileLock(self.directory / _LOCK, timeout=60):
            files = self._files()
            self.listings += 1
            total = sum(size for _, size, _ in files)
            for path, size, _ in sorted(files, key=lambda f: f[2]):
                if total <= self.max_bytes:
                    break
                if path == keep:
                    continue
                path.unlink(missing_ok=True)
                total -= size
            self._listed, self._added = total, 0

    def _files(self) -> list[tuple[Path, int, float]]:
        out = []
        for entry in self.directory.glob("*/*"):
            if entry.name.startswith(_TMP):
                continue
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            out.append((entry, st.st_size, st.st_mtime))
        return out

    def status(self) -> CacheStatus:
        """How many files and bytes the cache holds."""
        files = self._files() if self.directory.exists() else []
        return CacheStatus(self.directory, len(files), sum(size for _, size, _ in files), self.max_bytes)

    def clear(self) -> int:
        """Delete every cached file (not temporary files of downloads in progress); return how many."""
        if not self.directory.exists():
            return 0
        from filelock import FileLock

        with FileLock(self.directory / _LOCK, timeout=60):
            files = self._files()
            for path, _, _ in files:
                path.unlink(missing_ok=True)
            self._listed, self._added = 0, 0
        return len(files)
