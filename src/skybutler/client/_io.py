"""The client's own reads and writes of artifacts: its formatters, over signed URLs (or inline bytes).

Reads check what they fetch as a local read does (`open_checked`: size always, checksum for whole objects) and
fetch only the byte ranges a component or a cut-out needs.  Writes serialize with the formatter the server
named, hash while writing, and upload the bytes to the signed URL.
"""

from __future__ import annotations

import base64
import io
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from skybutler.datasets import ArtifactInfo, storage_classes
from skybutler.datastore._checked_reads import _corrupt, _mismatch, open_checked
from skybutler.datastore._checksums import HashingWriter, checksum_bytes
from skybutler.errors import ArtifactNotFoundError, FormatterError, PermissionDeniedError, StorageError
from skybutler.formatters import Formatter, formatters
from skybutler.transports._http import HttpTransport

if TYPE_CHECKING:
    import httpx

    from skybutler.wire import ArtifactModel

__all__ = [
    "CHUNK",
    "FormatterCache",
    "SignedUrlTransport",
    "artifact_info",
    "download_checked",
    "read_artifact",
    "write_object",
]

CHUNK = 1 << 20
"""Bytes a download holds in memory at a time (`download_checked`)."""


class SignedUrlTransport(HttpTransport):
    """One signed URL as a read-only transport (its one key is ``""``), on the butler's pooled client."""

    def __init__(self, url: str, client: httpx.Client) -> None:
        super().__init__(url)
        self._url = url
        self._shared = client

    @property
    def client(self) -> httpx.Client:
        """The remote butler's client (connections are reused across reads)."""
        return self._shared

    def uri(self, key: str) -> str:
        """The signed URL itself (its query string is the permission)."""
        return self._url

    def copy_to(self, out: BinaryIO | HashingWriter, what: str, chunk: int = CHUNK) -> int:
        """Write the whole file to ``out`` as it arrives, ``chunk`` bytes at a time (never all in memory).

        Raises
        ------
        ArtifactNotFoundError
            The URL names no file (HTTP 404).
        StorageError
            The server refused (an expired or altered URL) or the connection failed.
        """
        import httpx

        written = 0
        try:
            with self._shared.stream("GET", self._url) as response:
                if response.status_code == 404:
                    raise ArtifactNotFoundError(f"No file at {what} (HTTP 404).")
                if response.status_code >= 400:
                    raise StorageError(
                        f"Cannot read {what}: HTTP {response.status_code} {response.reason_phrase} (a signed URL "
                        "expires after a while: ask the server again)."
                    )
                for block in response.iter_bytes(chunk):
                    out.write(block)
                    written += len(block)
        except httpx.HTTPError as exc:
            raise StorageError(f"Cannot read {what}: {type(exc).__name__}: {exc}. Check the network.") from exc
        self.bytes_read += written
        return written


class FormatterCache:
    """Formatter instances by name (one each, as a datastore keeps them)."""

    def __init__(self) -> None:
        self._instances: dict[str, Formatter] = {}
        self._put_formats: dict[str, tuple[str, str]] = {}

    def learn(self, dataset_type: str, formatter: str, checksum: str) -> None:
        """Remember the formatter (and checksum algorithm) the server writes ``dataset_type`` with."""
        self._put_formats[dataset_type] = (formatter, checksum)

    def forget(self, dataset_type: str) -> None:
        """Forget what `learn` remembered of ``dataset_type``."""
        self._put_formats.pop(dataset_type, None)

    def put_format(self, dataset_type: str) -> tuple[str, str] | None:
        """The formatter and checksum algorithm the server writes ``dataset_type`` with, once a put told."""
        return self._put_formats.get(dataset_type)

    def get(self, name: str) -> Formatter:
        """The instance of formatter ``name``."""
        found = self._instances.get(name)
        if found is None:
            found = self._instances[name] = formatters.get(name)()
        return found


def artifact_info(model: ArtifactModel) -> ArtifactInfo:
    """The artifact record ``model`` carries."""
    return ArtifactInfo(
        model.path, model.formatter, model.storage_class, model.size, model.checksum, model.component, model.datastore
    )


def read_artifact(
    model: ArtifactModel,
    client: httpx.Client,
    cache: FormatterCache,
    *,
    storage_class: str | None,
    component: str | None,
    parameters: Mapping[str, Any] | None,
) -> Any:
    """Read one artifact with its recorded formatter, from its inline bytes or its signed URL."""
    artifact = artifact_info(model)
    formatter = cache.get(artifact.formatter)
    whole = component is None and not parameters
    if model.inline is not None:
        data = base64.b64decode(model.inline)
        problem = _mismatch(artifact, checksum_bytes(data, _algorithm(artifact)), len(data))
        if problem is not None:
            raise _corrupt(model.path, problem)
        stream: Any = io.BytesIO(data)
    elif model.url is not None:
        stream = open_checked(SignedUrlTransport(model.url, client), "", artifact, whole=whole)
    else:
        raise StorageError(f"The server gave no way to read {model.path!r}; ask its administrator.")
    try:
        with stream:
            obj = formatter.read(stream, component=component, parameters=parameters)
    except (FormatterError, StorageError, PermissionDeniedError):
        raise
    except Exception as exc:
        raise FormatterError(f"Formatter {artifact.formatter!r} could not read {model.path}: {exc}") from exc
    if storage_class is not None and component is None and storage_class != artifact.storage_class:
        obj = storage_classes.get(storage_class).coerce(obj)
    return obj


def download_checked(model: ArtifactModel, client: httpx.Client, out: BinaryIO, chunk: int = CHUNK) -> int:
    """Write the bytes of ``model`` (inline, or from its signed URL ``chunk`` bytes at a time) to ``out``,
    hashed on the way; their size, once it and the checksum match the record.

    Memory stays bounded by ``chunk`` whatever the file's size: the check is made on the stream.

    Raises
    ------
    CorruptArtifactError
        The bytes differ from the record (``out`` holds them: the caller discards it).
    StorageError
        The server gave no way to read the file, or the download failed.
    """
    writer = HashingWriter(out, _algorithm(artifact_info(model)) or "none")
    if model.inline is not None:
        writer.write(base64.b64decode(model.inline))
    elif model.url is not None:
        SignedUrlTransport(model.url, client).copy_to(writer, repr(model.path), chunk)
    else:
        raise StorageError(f"The server gave no way to read {model.path!r}; ask its administrator.")
    problem = _mismatch(artifact_info(model), writer.checksum, writer.size)
    if problem is not None:
        raise _corrupt(model.path, problem)
    return writer.size


def _algorithm(artifact: ArtifactInfo) -> str | None:
    checksum = artifact.checksum
    return None if checksum is None else checksum.partition(":")[0]


def write_object(formatter: Formatter, obj: Any, algorithm: str) -> tuple[bytes, int, str | None]:
    """``obj`` serialized by ``formatter``: the bytes, their size and checksum (``algorithm`` 'none': None)."""
    out = io.BytesIO()
    writer = HashingWriter(out, algorithm)
    try:
        if formatter.writes_streams:
            formatter.write(obj, writer)  # type: ignore[arg-type]
        else:
            with tempfile.TemporaryDirectory(prefix="skybutler-") as tmp:
                local = Path(tmp) / f"upload{formatter.extensions[0]}"
                formatter.write_file(obj, local)
                writer.write(local.read_bytes())
    except (FormatterError, StorageError):
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise FormatterError(f"Formatter {formatter.name!r} could not write {type(obj).__name__}: {exc}") from exc
    return out.getvalue(), writer.size, writer.checksum
