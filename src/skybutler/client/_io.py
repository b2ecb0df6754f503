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
from typing import TYPE_CHECKING, Any

from skybutler.datasets import ArtifactInfo, storage_classes
from skybutler.datastore._checked_reads import _corrupt, _mismatch, open_checked
from skybutler.datastore._checksums import HashingWriter, checksum_bytes
from skybutler.errors import FormatterError, PermissionDeniedError, StorageError
from skybutler.formatters import Formatter, formatters
from skybutler.transports._http import HttpTransport

if TYPE_CHECKING:
    import httpx

    from skybutler.wire import ArtifactModel

__all__ = ["FormatterCache", "SignedUrlTransport", "read_artifact", "write_object"]


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


def _info(model: ArtifactModel) -> ArtifactInfo:
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
    artifact = _info(model)
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


def checked_inline(model: ArtifactModel) -> bytes:
    """The inline bytes of ``model`` once they match its recorded size and checksum (`CorruptArtifactError`)."""
    assert model.inline is not None
    data = base64.b64decode(model.inline)
    problem = _mismatch(_info(model), checksum_bytes(data, _algorithm(_info(model))), len(data))
    if problem is not None:
        raise _corrupt(model.path, problem)
    return data


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
