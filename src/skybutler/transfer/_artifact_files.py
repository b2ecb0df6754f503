"""Moving dataset files in and out of an export: a directory or a zip archive on one side, the datastore on the other.

Import stages every file under the datastore's staging name (``.staging/<id><ext>``, as put does) before the
registry transaction, and the caller promotes them after the commit: a failure at any point leaves only
staging files, which `Butler.reconcile` removes.  Transfer modes:

``copy`` (and ``auto``)
    Bytes are copied (from a zip member too) and hashed on the way.
``move``
    Copied, and the export's file deleted once the import committed.
``hardlink``, ``symlink``, ``relsymlink``, ``link``
    Local files only: the datastore file is a link to the export's (``link``: a hard link, else a symbolic
    one); the file is read once to record its checksum.
"""

from __future__ import annotations

import os
import shutil
import struct
import time
import zipfile
import zlib
from pathlib import Path
from typing import IO, TYPE_CHECKING

from skybutler.datastore import STAGING, key_problem
from skybutler.datastore._checksums import HashingWriter, checksum_bytes, checksum_stream
from skybutler.errors import ArtifactNotFoundError, ConfigError, ExportFormatError, StorageError

if TYPE_CHECKING:
    from skybutler.datastore import FileDatastore

__all__ = ["TRANSFER_MODES", "ZIP_ERRORS", "ExportFiles", "check_transfer", "export_file", "stage_file"]

TRANSFER_MODES = ("auto", "copy", "move", "link", "hardlink", "symlink", "relsymlink")
_LINKS = ("link", "hardlink", "symlink", "relsymlink")
_SMALL = 16 << 20
"""Local export files up to this size are copied from one read (`ExportFiles.read_small`), larger ones in chunks."""
#: What reading a damaged or truncated zip archive raises: zipfile's own error, a bad CRC, bad compressed data
#: (zlib), a cut-short member (EOF), bad header fields (struct, ValueError, an unknown compression method).
ZIP_ERRORS = (OSError, KeyError, EOFError, ValueError, NotImplementedError, zlib.error, struct.error,
              zipfile.BadZipFile)  # fmt: skip


def check_transfer(transfer: str | None, *, allowed: tuple[str, ...] = TRANSFER_MODES) -> str:
    """Return the transfer mode (``None`` → ``auto``), or raise `ConfigError` for an unknown one."""
    mode = transfer or "auto"
    if mode not in allowed:
        raise ConfigError(f"Unknown transfer mode {transfer!r} here; use one of {list(allowed)}.")
    return mode


class ExportFiles:
    """The files of an export: under a local directory, or members of a zip archive."""

    def __init__(self, root: Path | zipfile.ZipFile) -> None:
        self.root = root
        self._prefix = str(root).rstrip(os.sep) + os.sep if isinstance(root, Path) else ""
        """A local root as text ending in a separator: members are opened by joined text, not `Path`."""

    @property
    def is_local(self) -> bool:
        """Whether members are local files (links are possible)."""
        return isinstance(self.root, Path)

    def local_path(self, rel: str) -> Path:
        """The local path of a member, checked to stay inside the export directory."""
        if not isinstance(self.root, Path):
            raise ConfigError("Files inside a zip archive cannot be linked; use transfer='copy'.")
        if (problem := key_problem(rel)) is not None:  # imports check earlier, with the place
            raise ConfigError(f"The export names the file {rel!r}, whose path {problem}.")
        return self.root / rel

    def open(self, rel: str) -> IO[bytes]:
        """Open a member for reading."""
        try:
            if isinstance(self.root, Path):
                if (problem := key_problem(rel)) is not None:  # as `local_path` refuses it
                    raise ConfigError(f"The export names the file {rel!r}, whose path {problem}.")
                return open(self._prefix + rel, "rb")
            return self.root.open(rel)
        except (FileNotFoundError, KeyError):
            raise ArtifactNotFoundError(f"The export has no file {rel!r} (in {self._where()}).") from None

    def read_small(self, rel: str, limit: int) -> bytes | None:
        """A local member's bytes in one read when it holds at most ``limit`` bytes (None: larger, or zipped).

        An unbuffered open, one ``fstat`` and one ``read``: a copy of a small file needs no stream machinery.
        """
        if not isinstance(self.root, Path):
            return None
        if (problem := key_problem(rel)) is not None:  # as `local_path` refuses it
            raise ConfigError(f"The export names the file {rel!r}, whose path {problem}.")
        try:
            with open(self._prefix + rel, "rb", buffering=0) as stream:
                return stream.readall() if os.fstat(stream.fileno()).st_size <= limit else None
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"The export has no file {rel!r} (in {self._where()}).") from None

    def remove(self, rel: str) -> None:
        """Delete a member after a ``move`` (a zip archive is left as it is)."""
        if isinstance(self.root, Path):
            self.local_path(rel).unlink(missing_ok=True)

    def _where(self) -> str:
        return str(self.root) if isinstance(self.root, Path) else str(self.root.filename)


def stage_file(
    datastore: FileDatastore, files: ExportFiles, rel: str, final: str, id_hex: str, ext: str, mode: str
) -> tuple[str, int, str | None]:
    """Put one export file under its staging name; return the staging key, size and checksum.

    Raises
    ------
    ArtifactNotFoundError
        The export lacks the file.
    ConfigError
        A link mode was asked for files that are not both local.
    StorageError
        The bytes could not be written.
    """
    transport = datastore.transport
    algorithm = datastore.config.checksum
    key = f"{STAGING}{id_hex}{ext}"
    if mode in _LINKS:
        if not transport.is_local:
            raise ConfigError(f"transfer={mode!r} needs a local datastore; use transfer='copy'.")
        source = files.local_path(rel)
        if not source.exists():
            raise ArtifactNotFoundError(f"The export has no file {rel!r} (in {files.root}).")
        target = transport.local_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        final_dir = transport.local_path(final).parent
        final_dir.mkdir(parents=True, exist_ok=True)  # a relative link dangles while staged: promote must not look
        _link(source, target, final_dir, mode)
        if algorithm == "none":
            return key, source.stat().st_size, None
        with open(source, "rb") as stream:
            checksum, size = checksum_stream(stream, algorithm)
        return key, size, checksum
    try:
        data = files.read_small(rel, _SMALL) if transport.is_local else None
        if data is not None:  # most exported files: one read, one write, the checksum of the bytes in hand
            with transport.open_write(key, atomic=False) as raw:
                raw.write(data)
            return key, len(data), checksum_bytes(data, None if algorithm == "none" else algorithm)
        with files.open(rel) as src, transport.open_write(key, atomic=False) as raw:
            writer = HashingWriter(raw, algorithm)
            shutil.copyfileobj(src, writer, 1 << 20)
    except ZIP_ERRORS as exc:
        if isinstance(exc, StorageError):
            raise
        transport.delete(key)
        if not isinstance(exc, OSError):  # a damaged archive member (bad CRC, bad compressed data)
            raise ExportFormatError(
                f"The export's file {rel!r} in {files._where()} is damaged: {str(exc).rstrip('.')}. Nothing was "
                "imported; copy the archive again, or export anew."
            ) from None
        raise StorageError(f"Could not copy {rel!r} into {transport.uri(key)}: {exc}") from exc
    return key, writer.size, writer.checksum


def _link(source: Path, target: Path, final_dir: Path, mode: str) -> None:
    try:
        if mode in ("hardlink", "link"):
            try:
                os.link(source, target)
                return
            except OSError:
                if mode == "hardlink":
                    raise
        if mode == "relsymlink":  # relative to where the link will live once promoted
            target.symlink_to(os.path.relpath(source.absolute(), final_dir.absolute()))
        else:
            target.symlink_to(source.absolute())
    except OSError as exc:
        raise StorageError(f"Could not {mode} {source} to {target}: {exc}") from exc


def export_file(
    datastore: FileDatastore,
    path: str,
    destination: Path | zipfile.ZipFile,
    rel: str,
    mode: str,
    made: set[Path] | None = None,
) -> int:
    """Copy or link one datastore file into an export directory or archive; return its size.

    ``made``: the directories this export has made already (they are not made again, file after file).
    """
    transport = datastore.transport
    if isinstance(destination, zipfile.ZipFile):
        info = zipfile.ZipInfo(rel, date_time=time.localtime()[:6])
        with transport.open(path) as src, destination.open(info, "w", force_zip64=True) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return destination.getinfo(rel).file_size
    target = destination / rel
    if made is None or target.parent not in made:
        target.parent.mkdir(parents=True, exist_ok=True)
        if made is not None:
            made.add(target.parent)
    if mode in _LINKS:
        if not transport.is_local:
            raise ConfigError(f"transfer={mode!r} needs a local datastore; use transfer='copy'.")
        source = transport.local_path(path)
        if not source.exists():
            raise ArtifactNotFoundError(f"The file of a registered dataset is missing: {source}.")
        _link(source, target, target.parent, mode)
        return source.stat().st_size
    with transport.open(path) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        return dst.tell()
