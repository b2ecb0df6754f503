"""`export` on the remote butler: the server sends the document and signed URLs, the client writes the files.

The server checks the caller may read everything exported, writes the export document (and its provenance)
and answers with them and the files they name, each with a short-lived signed URL (an object store's presigned
GET, or the server's own HMAC-signed files URL for a local datastore; small files inline).  The client then
makes the ``.zip`` archive (the same layout a local export writes: `skybutler.transfer._export.write_zip`) or
the document and a ``directory=`` of files itself, streaming each file from its URL in chunks (files up to a
chunk several at once: `_Fetcher`) and checking its size and checksum on the way: no file's bytes pass through
the server's API.

Only when some file has no signed URL (storage that cannot sign one, such as an fsspec filesystem without
signing) does the client fall back to ``POST /transfer/export``, where the server writes the archive and
streams it back (`RemoteTransfers.export`).
"""

from __future__ import annotations

import io
import threading
import time
import uuid
import zipfile
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from skybutler.client._io import CHUNK, artifact_info, download_checked
from skybutler.datasets import ArtifactInfo
from skybutler.datastore._keys import checked_key
from skybutler.errors import ConfigError
from skybutler.transfer import ExportReport
from skybutler.transfer._export import write_zip
from skybutler.transfer._provenance import sidecar_path
from skybutler.wire import FindResponse, RefsRequest
from skybutler.wire_transfer import ExportFilesResponse

if TYPE_CHECKING:
    from concurrent.futures import Future

    import httpx

    from skybutler.client._http import Session
    from skybutler.types import Progress
    from skybutler.wire import ArtifactModel
    from skybutler.wire_transfer import ExportRequest

__all__ = ["download_to", "export_through_urls"]

_BATCH = 200
"""Files whose URLs one lookup renews."""
_PARALLEL = 4
"""Small files downloaded at once."""


def export_through_urls(
    session: Session,
    request: ExportRequest,
    target: Path,
    *,
    directory: Path | None,
    transfer: str | None,
    progress: Progress | None,
) -> ExportReport | None:
    """Export as the module docstring says; ``None`` when a file has no signed URL (the caller falls back)."""
    if directory is not None and transfer not in (None, "auto", "copy"):
        raise ConfigError(f"transfer={transfer!r}: a remote butler's export copies (downloads) the files.")
    started = time.perf_counter()
    plan = session.call_model(
        "POST", "/transfer/export/files", request, ExportFilesResponse, idempotent=True, what="export"
    )
    if any(f.artifact.url is None and f.artifact.inline is None for f in plan.files):
        return None
    counts = {k: v for k, v in plan.report.items() if k not in ("artifacts", "bytes", "seconds")}
    report = ExportReport(str(target), **counts)  # type: ignore[arg-type]
    files = [(uuid.UUID(f.ref.id), artifact_info(f.artifact)) for f in plan.files]
    with _Fetcher(_FreshUrls(session, plan), session.client, [a for _, a in files]) as fetcher:
        if target.suffix == ".zip":

            def copy(artifact: ArtifactInfo, archive: zipfile.ZipFile) -> int:
                info = zipfile.ZipInfo(checked_key(artifact.path), date_time=time.localtime()[:6])
                with archive.open(info, "w", force_zip64=True) as out:
                    return fetcher.write(artifact, out)  # type: ignore[arg-type]

            write_zip(target, plan.document, plan.provenance, files, report, progress, copy=copy)
        else:
            if directory is not None:  # the files first: a failed download leaves no document naming them
                for n, (_, artifact) in enumerate(files):
                    report.bytes += _to_file(fetcher, artifact, directory / checked_key(artifact.path))
                    report.artifacts += 1
                    if progress is not None and (n % 100 == 0 or n + 1 == len(files)):
                        progress("files", n + 1, len(files))
            _write_text(sidecar_path(target), plan.provenance)
            _write_text(target, plan.document)
    report.seconds = time.perf_counter() - started
    return report


class _Fetcher:
    """Each file's bytes, in the export's order: files up to `CHUNK` are fetched ahead, `_PARALLEL` at a time
    (one request per file costs more than its bytes; memory stays under ``2 * _PARALLEL`` chunks), larger ones
    streamed when their turn comes.  Every file is checked on the way (`download_checked`)."""

    def __init__(self, urls: _FreshUrls, client: httpx.Client, artifacts: list[ArtifactInfo]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._urls, self._client = urls, client
        self._small = deque(a.path for a in artifacts if a.size <= CHUNK)
        self._ahead: deque[tuple[str, Future[bytes]]] = deque()
        self._pool = ThreadPoolExecutor(_PARALLEL, thread_name_prefix="skybutler-export")

    def __enter__(self) -> _Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _fetch(self, path: str) -> bytes:
        out = io.BytesIO()
        download_checked(self._urls.model(path), self._client, out)
        return out.getvalue()

    def write(self, artifact: ArtifactInfo, out: BinaryIO) -> int:
        """Write the file of ``artifact`` (the next in the export's order) to ``out``; its size."""
        if artifact.size > CHUNK:
            return download_checked(self._urls.model(artifact.path), self._client, out)
        while self._small and len(self._ahead) < 2 * _PARALLEL:
            path = self._small.popleft()
            self._ahead.append((path, self._pool.submit(self._fetch, path)))
        path, future = self._ahead.popleft()
        assert path == artifact.path, "files are written in the order they were fetched"
        data = future.result()
        out.write(data)
        return len(data)


def _to_file(fetcher: _Fetcher, artifact: ArtifactInfo, target: Path) -> int:
    """The file of ``artifact`` at ``target``, through a hidden partial file; its size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("wb") as out:
            size = fetcher.write(artifact, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return size


class _FreshUrls:
    """The files' signed URLs, looked up again (``/datasets/lookup``, a batch at a time, with the same read
    checks as a get) once half their lifetime has passed: a long export never meets an expired URL."""

    def __init__(self, session: Session, plan: ExportFilesResponse) -> None:
        self._session = session
        self._lifetime = plan.url_lifetime
        self._files = plan.files
        self._index = {f.artifact.path: i for i, f in enumerate(plan.files)}
        self._models = {f.artifact.path: f.artifact for f in plan.files}
        now = time.monotonic()
        self._at = dict.fromkeys(self._models, now)
        self._lock = threading.Lock()

    def model(self, path: str) -> ArtifactModel:
        """The artifact at ``path``, with a URL that has at least half its lifetime left (thread-safe)."""
        with self._lock:
            found = self._models[path]
            if found.inline is None and time.monotonic() - self._at[path] > self._lifetime / 2:
                self._refresh(self._index[path])
                found = self._models[path]
            return found

    def _refresh(self, start: int) -> None:
        batch = self._files[start : start + _BATCH]
        request = RefsRequest(refs=[f.ref for f in batch], inline=True)
        answer = self._session.call("POST", "/datasets/lookup", request, idempotent=True, what="export")
        now = time.monotonic()
        for item in answer:
            for artifact in FindResponse.model_validate(item).artifacts:
                if artifact.path in self._models:
                    self._models[artifact.path], self._at[artifact.path] = artifact, now


def download_to(artifact: ArtifactModel, client: httpx.Client, target: Path) -> int:
    """Stream ``artifact`` to ``target`` through a hidden partial file, checked on the way; its size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("wb") as out:
            size = download_checked(artifact, client, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return size


def _write_text(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
