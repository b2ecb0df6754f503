"""Checked reads: an artifact's bytes are compared with its record (size, checksum) before a formatter sees them.

`FileDatastore` decides *whether* to check (``datastore.verify_on_read``, the read cache); this module does the
checking, for whole-object reads (size and checksum) and partial ones (size only), and for `verify`.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, BinaryIO

from skybutler.datastore._checksums import SMALL_FILE, checksum_bytes, checksum_file, checksum_stream
from skybutler.errors import ArtifactNotFoundError, ConfigError, CorruptArtifactError, StorageError
from skybutler.transports._local import LocalTransport
from skybutler.transports._transport import _PLACEHOLDER_MAX, claimed_source

if TYPE_CHECKING:
    from skybutler.datasets import ArtifactInfo
    from skybutler.transports import Transport

__all__ = ["open_checked", "verify_artifact"]


def open_checked(transport: Transport, key: str, artifact: ArtifactInfo, *, whole: bool) -> BinaryIO:
    """A stream of ``key``'s bytes once they match ``artifact``'s record (see `FileDatastore._reader`).

    Raises
    ------
    CorruptArtifactError
        The size or checksum differs from the record.
    """
    checksum = artifact.checksum
    if whole and checksum is not None and artifact.size <= SMALL_FILE and type(transport) is LocalTransport:
        # The common case, kept to three system calls and one hash: a mismatch (or a short read) is
        # measured again below, which also says what differs.
        small, name = transport.read_prefix(key, artifact.size + 1)
        if len(small) == artifact.size and checksum_bytes(small, checksum[: checksum.index(":")]) == checksum:
            return _NamedBytes(small, name)
    if transport.is_local or not whole:
        stream = transport.open(key)
        try:
            data = None
            if whole:
                checksum, size, data = checksum_file(stream, _checked_algorithm(artifact), artifact.size)
                problem = _mismatch(artifact, checksum, size)
            else:
                problem = _mismatch(artifact, None, _stream_size(stream))
            if problem is not None:
                raise _corrupt(transport.uri(key), problem, data)
        except BaseException:
            stream.close()
            raise
        if data is None:
            return stream
        stream.close()  # a small file, read whole: the formatter parses the bytes just checked
        return _NamedBytes(data, getattr(stream, "name", ""))
    data = transport.get(key)
    problem = _mismatch(artifact, checksum_bytes(data, _checked_algorithm(artifact)), len(data))
    if problem is not None:
        raise _corrupt(transport.uri(key), problem, data)
    return io.BytesIO(data)


def verify_artifact(transport: Transport, key: str, artifact: ArtifactInfo) -> str | None:
    """Re-read ``key``; return ``"missing"``, ``"unreadable: ..."``, a description of the mismatch, or ``None``."""
    checksum = artifact.checksum
    if checksum is not None and artifact.size <= SMALL_FILE and type(transport) is LocalTransport:
        # merge and verify check many small files: one open, one read and one hash each (a file longer
        # than recorded is measured in full below, which says how long it is)
        try:
            small, _ = transport.read_prefix(key, artifact.size + 1)
        except ArtifactNotFoundError:
            return "missing"
        except (StorageError, OSError) as exc:
            return f"unreadable: {exc}"
        if len(small) <= artifact.size:
            try:
                problem = _mismatch(artifact, checksum_bytes(small, _algorithm(artifact)), len(small))
            except ConfigError as exc:
                return f"unreadable: {exc}"
            return problem if problem is None else _claim_note(transport, key, problem)
    try:
        with transport.open(key) as stream:
            checksum, size = checksum_stream(stream, _algorithm(artifact))
    except ArtifactNotFoundError:
        return "missing"
    except (StorageError, ConfigError, OSError) as exc:
        return f"unreadable: {exc}"
    problem = _mismatch(artifact, checksum, size)
    return problem if problem is None or size > _PLACEHOLDER_MAX else _claim_note(transport, key, problem)


def _algorithm(artifact: ArtifactInfo) -> str:
    return (artifact.checksum or "xxh3_128:").partition(":")[0]


def _checked_algorithm(artifact: ArtifactInfo) -> str | None:
    """The algorithm of the recorded checksum, or ``None`` when none was recorded (size checks only)."""
    checksum = artifact.checksum
    return None if checksum is None else checksum.partition(":")[0]


def _stream_size(stream: BinaryIO) -> int:
    """The size of a seekable stream, found by seeking (no read: an lseek locally, nothing remotely)."""
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    return size


class _NamedBytes(io.BytesIO):
    """The checked bytes of a small local file, named by its path like the file itself.

    Formatters whose library reads a local file faster by itself (HDF5, Parquet) reopen it by ``name``
    (`skybutler.formatters._streams.local_name`); the others parse these bytes.
    """

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name


def _corrupt(uri: str, problem: str, data: bytes | None = None) -> CorruptArtifactError:
    source = None if data is None else claimed_source(data)
    if source is not None:  # the dataset's bytes are safe elsewhere: removing it would lose them
        return CorruptArtifactError(
            f"The file of this dataset was never moved into place: {uri} still holds the claim that names {source} "
            "(a put, merge or upload stopped after registering it). Run `skybutler reconcile` "
            "(butler.reconcile()) to finish the move; do not remove the dataset."
        )
    return CorruptArtifactError(
        f"The file of this dataset is corrupt: {uri} has {problem}. Restore it from a copy, or remove "
        "the dataset and put it again; butler.verify() finds others."
    )


def _claim_note(transport: Transport, key: str, problem: str) -> str:
    """``problem``, saying so when ``key`` holds a claim's placeholder (a promotion `reconcile` finishes)."""
    try:
        if transport.size(key) > _PLACEHOLDER_MAX:
            return problem
        source = claimed_source(transport.get(key))
    except (ArtifactNotFoundError, StorageError, OSError):
        return problem
    if source is None:
        return problem
    return f"{problem}: a claim naming {source}, never moved into place (run `skybutler reconcile`)"


def _mismatch(artifact: ArtifactInfo, checksum: str | None, size: int) -> str | None:
    """How the bytes read differ from the record, or ``None`` (``checksum=None``: the size alone is compared)."""
    if size != artifact.size:
        return f"{size} bytes but {artifact.size} were recorded"
    if artifact.checksum is not None and checksum is not None and checksum != artifact.checksum:
        return f"checksum {checksum} but {artifact.checksum} was recorded"
    return None
