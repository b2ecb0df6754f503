"""Transfer modes: how an existing file becomes a dataset's artifact (copy, link, move, or registered in place).

Every mode except ``direct`` (and ``auto`` resolving to *in place*) puts the file under the datastore's staging
name first, as a put does, so a crash before registration leaves only a staging entry that ``reconcile``
removes, and one after it leaves an entry ``reconcile`` promotes.  Sizes and checksums are computed by
reading the bytes once (while copying, or afterwards for links and external files), with the repository's
checksum algorithm, so ``verify`` treats ingested datasets like put ones.

The ``auto`` rule (cheapest safe mode):

1. a local file already inside the datastore root is registered *in place* (no bytes move; the datastore
   owns it from then on, so ``remove`` deletes it);
2. a local file on the same file system as a local datastore is *hard-linked*: no bytes are copied, and
   deleting or renaming the original cannot break the dataset (a symlink could);
3. anything else is *copied*.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote, unquote, urlparse

from skybutler.datastore import STAGING, RootLinks
from skybutler.datastore._checksums import HashingWriter, checksum_stream, new_hasher
from skybutler.errors import ArtifactNotFoundError, ConfigError, StorageError
from skybutler.transports import open_transport

if TYPE_CHECKING:
    from skybutler.datastore import FileDatastore
    from skybutler.transports import Transport

__all__ = ["TRANSFER_MODES", "FileMover", "SourceFile", "source_file"]

TRANSFER_MODES = ("auto", "copy", "move", "link", "hardlink", "symlink", "relsymlink", "direct")
"""Transfer modes accepted by ingest; ``auto`` resolves to ``inplace``, ``hardlink`` or ``copy``."""
_LINKS = ("link", "hardlink", "symlink", "relsymlink")
_COMPRESSION = (".gz", ".fz", ".bz2", ".xz", ".zst")
_SMALL = 16 << 20  # files up to this size are read in one call
_URI_SAFE = re.compile(r"[A-Za-z0-9_.~/-]*").fullmatch
"""Whether a local path is its own URI path (quote() would leave it as it is)."""
_UNNORMALIZED = re.compile(r"//|/\.\.?(?:/|$)|/$").search
"""Whether an absolute path has parts `os.path.abspath` would change: ``//``, ``/./``, ``/../``, a final ``/``."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to ingest: a local path (with its size and device), or a key of a (remote) transport."""

    local: str | None
    size: int | None = None
    device: int | None = None
    transport: Transport | None = None
    key: str = ""

    @classmethod
    def at(cls, transport: Transport, key: str) -> SourceFile:
        """The file at ``key`` of ``transport`` (its local path when the transport is local)."""
        if transport.is_local:
            local = str(transport.local_path(key))
            st = os.stat(local)
            return cls(local, st.st_size, st.st_dev)
        return cls(None, None, None, transport, key)

    @property
    def uri(self) -> str:
        """The file's absolute URI (what a ``direct`` ingest records)."""
        if self.local is None:
            assert self.transport is not None
            return self.transport.uri(self.key)
        if _URI_SAFE(self.local):  # the common case, about a tenth of quote()'s cost
            return "file://" + self.local
        return "file://" + quote(self.local)

    @property
    def name(self) -> str:
        """The file name (last path segment)."""
        return (self.local or self.key).rsplit("/", 1)[-1]

    def extension(self, default: str) -> str:
        """The extension to keep in the datastore: ``.fits``, ``.fits.fz`` (compression kept), or ``default``."""
        # The last two of PurePosixPath(name).suffixes, without building a path object per file.
        name = self.name
        if name.endswith("."):
            return default
        parts = name.lstrip(".").rsplit(".", 2)
        if len(parts) == 1:
            return default
        suffix = "." + parts[-1]
        if suffix.lower() in _COMPRESSION and len(parts) > 2:
            return "." + parts[-2] + suffix
        return suffix


def source_file(path: str | os.PathLike[str]) -> SourceFile:
    """Check that a file to ingest exists and describe it.

    Raises
    ------
    ArtifactNotFoundError
        There is no file at ``path``.
    ConfigError
        A ``file://`` URI names another host.
    """
    text = os.fspath(path)
    if "://" in text:
        if not text.startswith("file://"):
            transport, key = _remote(text)
            if not transport.exists(key):
                raise ArtifactNotFoundError(f"No file to ingest at {text}.")
            return SourceFile(None, None, None, transport, key)
        parts = urlparse(text)
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(
                f"{text} names the host {parts.netloc!r}; file:// URIs are read on this machine only. Give the "
                "path where that file system is mounted here, or a URI of a transport that reaches it."
            )
        local = unquote(parts.path)
    elif text.startswith("/") and not _UNNORMALIZED(text):
        local = text  # already what abspath would make of it
    else:
        local = os.path.abspath(text)
    try:
        st = os.stat(local)
    except FileNotFoundError:
        raise ArtifactNotFoundError(f"No file to ingest at {local}; check the path.") from None
    except OSError as exc:
        raise StorageError(f"Cannot read the file to ingest {local}: {exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ArtifactNotFoundError(f"{local} is not a regular file; only files can be ingested.")
    return SourceFile(local, st.st_size, st.st_dev)


def _remote(uri: str) -> tuple[Transport, str]:
    parent, _, key = uri.rpartition("/")
    transport = open_transport(parent + "/")
    return transport, unquote(key) if transport.uri_quotes_keys else key  # an http:// URI is percent-encoded


def _source_exists(source: SourceFile) -> bool:
    """Whether an ingest source is still where it was (a local path; remote sources are assumed there)."""
    return source.local is None or os.path.lexists(source.local)


class _StagingGoneError(Exception):
    """The staging folder vanished under a file operation (retried once)."""


class FileMover:
    """Brings source files into one datastore by a transfer mode (the file work of ingest and transfer)."""

    def __init__(self, datastore: FileDatastore, *, checksum: bool | None = None) -> None:
        self.datastore = datastore
        self.transport = datastore.transport
        self.algorithm = "none" if checksum is False else datastore.config.checksum
        self.read_direct = checksum is True
        """Whether ``direct`` files are read for their checksum (by default only their size is recorded)."""
        self._root: str | None = None
        self._device: int | None = None
        self._links: RootLinks | None = None
        """Where links under a local root lead (for `resolve`'s in-place rule)."""
        if self.transport.is_local:
            root = self.transport.local_path("")
            root.mkdir(parents=True, exist_ok=True)
            self.transport.local_path(STAGING).mkdir(parents=True, exist_ok=True)
            self._root = str(root).rstrip(os.sep) + os.sep
            self._device = os.stat(root).st_dev
            self._links = RootLinks(self._root)

    def resolve(self, mode: str, source: SourceFile) -> str:
        """The concrete mode for ``source``: ``auto`` resolved by the module's rule, others checked.

        Raises
        ------
        ConfigError
            The mode is unknown, or it links files but the file or the datastore is not local.
        """
        if mode not in TRANSFER_MODES:
            raise ConfigError(f"Unknown transfer mode {mode!r}; use one of {', '.join(TRANSFER_MODES)}.")
        if mode == "auto":
            if source.local is not None and self._root is not None and self._links is not None:
                if source.local.startswith(self._root) and self._links.may_adopt(source.local[len(self._root) :]):
                    return "inplace"
                if source.device == self._device:
                    return "hardlink"
            return "copy"
        if mode in _LINKS and (source.local is None or self._root is None):
            where = "the datastore" if self._root is None else source.uri
            raise ConfigError(
                f"Transfer mode {mode!r} links files, but {where} is not on a local file system; use 'copy'."
            )
        return mode

    def fixed(self, mode: str) -> str | None:
        """What `resolve` gives for ``mode`` whatever the file (``copy``, ``move``, ``direct``); else None."""
        if mode in TRANSFER_MODES and mode != "auto" and mode not in _LINKS:
            return mode
        return None

    def unread_size(self, source: SourceFile) -> int | None:
        """The size to record for a ``direct`` file that is not read (from its stat); None: read or ask for it."""
        if self.read_direct and self.algorithm != "none":
            return None
        return source.size

    def in_place_key(self, source: SourceFile) -> str:
        """The datastore key of a file already inside the datastore root."""
        assert self._root is not None
        assert source.local is not None
        return source.local[len(self._root) :].replace(os.sep, "/")

    def bring(self, mode: str, source: SourceFile, staging_key: str, final_key: str) -> tuple[int, str | None]:
        """Put ``source`` at ``staging_key`` by ``mode`` (nothing for ``direct``/``inplace``); return size, checksum.

        Raises
        ------
        StorageError
            The file could not be read, copied or linked.
        """
        for attempt in range(3):
            try:
                return self._bring(mode, source, staging_key, final_key)
            except _StagingGoneError as exc:
                # Removing the last staged file also removes the staging folder (a put's abort in another
                # process, or reconcile): make it again and retry (a few times: it can vanish again).
                if attempt == 2:
                    raise StorageError(f"Could not {mode} {source.uri} into the datastore: {exc}") from exc
                assert self._root is not None
                os.makedirs(self._root + STAGING, exist_ok=True)
        raise AssertionError("unreachable")

    def _bring(self, mode: str, source: SourceFile, staging_key: str, final_key: str) -> tuple[int, str | None]:
        try:
            if mode == "direct":
                return self._measure(source, hashed=self.read_direct)
            if mode == "inplace":
                return self._measure(source)
            if mode == "copy" or (mode == "move" and not self._try_hardlink(source, staging_key)):
                return self._copy(source, staging_key)
            if mode == "move":
                return self._measure(source)
            if mode in ("link", "hardlink"):
                if not self._try_hardlink(source, staging_key, strict=mode == "hardlink"):
                    self._symlink(source, staging_key, str(source.local))
                return self._measure(source)
            if mode == "symlink":
                self._symlink(source, staging_key, str(source.local))
            else:  # relsymlink: relative to where the link will end up, not to the staging area
                final_dir = os.path.dirname(str(self.transport.local_path(final_key)))
                self._symlink(source, staging_key, os.path.relpath(str(source.local), final_dir))
            return self._measure(source)
        except StorageError:
            raise
        except OSError as exc:
            self.transport.delete(staging_key)
            # A missing file while the source is there: the staging folder went (perhaps already made again
            # by another thread of this ingest, so its absence now proves nothing).
            if isinstance(exc, FileNotFoundError) and self._root and _source_exists(source):
                raise _StagingGoneError(str(exc)) from exc
            raise StorageError(f"Could not {mode} {source.uri} into the datastore: {exc}") from exc

    def finish(self, mode: str, source: SourceFile) -> None:
        """After registration: a ``move`` deletes its source (a crash before this only leaves the source)."""
        if mode != "move":
            return
        if source.local is not None:
            try:
                os.unlink(source.local)
            except FileNotFoundError:
                pass
            return
        assert source.transport is not None
        source.transport.delete(source.key)

    # -- the file operations ------------------------------------------------------------------------------------
    def _open(self, source: SourceFile) -> BinaryIO:
        if source.local is not None:
            try:
                return open(source.local, "rb")
            except FileNotFoundError:
                raise ArtifactNotFoundError(f"The file to ingest {source.local} has gone missing.") from None
        assert source.transport is not None
        return source.transport.open(source.key)

    def _measure(self, source: SourceFile, *, hashed: bool = True) -> tuple[int, str | None]:
        if self.algorithm == "none" or not hashed:
            if source.size is not None:
                return source.size, None
            if source.transport is not None:  # a remote file: ask for its size rather than read it
                return source.transport.size(source.key), None
        if source.local is not None and source.size is not None and source.size <= _SMALL:
            data = self._read_small(source.local)
            return len(data), self._digest(data)
        with self._open(source) as stream:
            checksum, size = checksum_stream(stream, "xxh3_128" if self.algorithm == "none" else self.algorithm)
        return size, None if self.algorithm == "none" else checksum

    def _copy(self, source: SourceFile, staging_key: str) -> tuple[int, str | None]:
        if source.local is not None and source.size is not None and source.size <= _SMALL and self._root is not None:
            # Small local files (the bulk of a night): one read, one hash, one write, no stream machinery.
            data = self._read_small(source.local)
            with open(self._root + staging_key, "wb") as out:
                out.write(data)
            return len(data), self._digest(data)
        with self._open(source) as src, self.transport.open_write(staging_key, atomic=False) as raw:
            writer = HashingWriter(raw, self.algorithm)
            shutil.copyfileobj(src, writer, 1 << 20)
        return writer.size, writer.checksum

    def _read_small(self, path: str) -> bytes:
        try:
            with open(path, "rb", buffering=0) as stream:
                return stream.readall()
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"The file to ingest {path} has gone missing.") from None

    def _digest(self, data: bytes) -> str | None:
        if self.algorithm == "none":
            return None
        hasher = new_hasher(self.algorithm)
        hasher.update(data)
        return f"{self.algorithm}:{hasher.hexdigest()}"

    def _try_hardlink(self, source: SourceFile, staging_key: str, *, strict: bool = False) -> bool:
        if source.local is None or self._root is None or (source.device != self._device and not strict):
            return False
        try:
            os.link(source.local, self.transport.local_path(staging_key))
        except OSError:
            if strict:
                raise
            return False
        return True

    def _symlink(self, source: SourceFile, staging_key: str, target: str) -> None:
        if source.local is not None and not os.path.exists(source.local):
            raise ArtifactNotFoundError(f"The file to ingest {source.local} has gone missing.")
        os.symlink(target, self.transport.local_path(staging_key))
