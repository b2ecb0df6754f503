"""Amazon S3 and S3-compatible object stores (MinIO, Ceph, moto), through obstore (Rust ``object_store``).

Why obstore and not boto3: on the loopback endpoint obstore took 4.7 ms per small PUT and 3.2 ms per GET
against boto3's 16.8 ms and 10.2 ms (0.5 ms of client CPU per request against 2.5-3 ms), and it releases the
GIL while waiting, so parallel uploads scale (benchmarks/s3.py, docs/storage.md).  boto3 is still used,
only when a profile is named, to resolve credentials through the full AWS chain (profiles, SSO, roles).

Where settings come from: the endpoint from the ``endpoint_url`` option (``datastore.transport`` in
``butler.yaml``) or the standard ``AWS_ENDPOINT_URL``; credentials and region from the standard places
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` or the ``profile``
option, instance metadata).  Credentials are refused as options, so they never land in ``butler.yaml``, the
registry or a message.

Atomicity: S3 shows an object only once its single PUT, or the CompleteMultipartUpload of a large one, has
succeeded, so readers see the old bytes or the new.  A crash mid-upload leaves no object, but an interrupted
multipart upload keeps its parts (billed, invisible) until aborted: give the bucket a lifecycle rule
``AbortIncompleteMultipartUpload``.  ``move`` is copy-then-delete, so a crash between the two leaves both
keys; the datastore's reconcile removes the staging copy.

The store's HTTP client must not cross a ``fork``: each process makes its own on first use.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, NoReturn

from skybutler.errors import ArtifactNotFoundError, ConfigError, StorageError
from skybutler.transports._ranged import FIRST_READ, RangedReader
from skybutler.transports._transport import Transport

if TYPE_CHECKING:
    from obstore.store import S3Store

__all__ = ["S3Transport"]

#: User metadata (``x-amz-meta-skybutler-dataset``) naming the dataset an in-place write was for.
_OWNER = "skybutler-dataset"

_OPTIONS = frozenset(
    {
        "endpoint_url",
        "profile",
        "region",
        "max_concurrency",
        "multipart_threshold",
        "max_attempts",
        "conditional_writes",
    }
)


class S3Transport(Transport):
    """Objects under ``s3://bucket/prefix/``.

    Parameters
    ----------
    root
        ``s3://bucket`` or ``s3://bucket/prefix``.
    endpoint_url
        S3 endpoint, for stores other than AWS; default: ``AWS_ENDPOINT_URL``, else AWS itself.
    profile
        AWS profile name whose credentials to use (through boto3); default: ``AWS_PROFILE`` when no
        credentials are in the environment.
    region
        Region name (default: ``AWS_REGION``/``AWS_DEFAULT_REGION``, else the profile's, else us-east-1).
    max_concurrency
        Parallel requests for bulk operations (`concurrency`) and for the parts of a multipart upload.
    multipart_threshold
        Uploads at least this large (bytes) go as multipart uploads, in parts of a quarter of it (>= 5 MiB).
    max_attempts
        Attempts per request, retries included.
    conditional_writes
        Whether the store honours ``If-None-Match: *`` on PUT (AWS since 2024, MinIO, moto).  When it does,
        datasets are written at their final key in one request (`can_create`); set it false for stores that
        do not, and the datastore stages and copies instead.
    """

    scheme = "s3"
    options: ClassVar[frozenset[str]] = _OPTIONS

    def __init__(
        self,
        root: str,
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
        region: str | None = None,
        max_concurrency: int = 16,
        multipart_threshold: int = 64 << 20,
        max_attempts: int = 3,
        conditional_writes: bool = True,
    ) -> None:
        scheme, sep, rest = root.partition("://")
        bucket, _, prefix = rest.partition("/")
        if not sep or not bucket:
            raise ConfigError(f"Not an S3 URI: {root!r}; write s3://bucket/prefix.")
        super().__init__(f"{scheme}://{bucket}/{prefix}")
        self.bucket = bucket
        self.prefix = self.root[len(scheme) + 3 + len(bucket) + 1 :]
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        self.profile = profile
        self.region = region
        self.concurrency = max_concurrency
        self.multipart_threshold = max(multipart_threshold, 5 << 20)
        self.max_attempts = max_attempts
        self.can_create = conditional_writes
        self.bytes_read = 0
        """Bytes received from the store by this transport (whole and ranged reads)."""
        self._lock = threading.Lock()
        self._store: S3Store | None = None
        self._pid = -1

    # -- the client --------------------------------------------------------------------------------------------
    @property
    def store(self) -> S3Store:
        """This process's obstore ``S3Store`` (made on first use; thread-safe, not fork-safe)."""
        store = self._store
        if store is not None and self._pid == os.getpid():
            return store
        with self._lock:
            if self._store is None or self._pid != os.getpid():
                self._store = self._make_store()
                self._pid = os.getpid()
            return self._store

    def _make_store(self) -> S3Store:
        from obstore.store import S3Store

        config: dict[str, Any] = {}
        if self.endpoint_url:
            config["endpoint"] = self.endpoint_url
        region = self.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        provider = None
        profile = self.profile or (None if os.environ.get("AWS_ACCESS_KEY_ID") else os.environ.get("AWS_PROFILE"))
        if profile:
            import boto3
            from obstore.auth.boto3 import Boto3CredentialProvider

            session = boto3.session.Session(profile_name=profile)
            provider = Boto3CredentialProvider(session)
            region = region or session.region_name
        if region:
            config["region"] = region
        return S3Store(
            self.bucket,
            prefix=self.prefix.rstrip("/") or None,
            config=config,  # type: ignore[arg-type]
            client_options={
                "allow_http": bool(self.endpoint_url and self.endpoint_url.startswith("http://")),
                "connect_timeout": timedelta(seconds=5),
                "timeout": timedelta(seconds=120),
                "pool_max_idle_per_host": str(max(self.concurrency, 10)),
            },
            retry_config={
                "max_retries": max(self.max_attempts - 1, 0),
                "retry_timeout": timedelta(seconds=30),
                "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=5)},
            },
            credential_provider=provider,
        )

    def _fail(self, action: str, key: str, exc: Exception) -> NoReturn:
        """Turn an obstore error into ours: a missing key, or a `StorageError` that says what to check."""
        from obstore.exceptions import NotFoundError

        if isinstance(exc, NotFoundError | FileNotFoundError):
            raise ArtifactNotFoundError(f"No object {self.uri(key)}.") from None
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(
            f"Cannot {action} {self.uri(key)} (endpoint {self.endpoint_url or 'AWS'}): {detail}. Check the "
            "endpoint, network, bucket and credentials (AWS_* environment, profile), then retry."
        ) from exc

    @staticmethod
    def _errors() -> tuple[type[Exception], ...]:
        from obstore.exceptions import BaseError

        return (BaseError, OSError)

    # -- the interface --------------------------------------------------------------------------------------
    def get(self, key: str) -> bytes:
        """Return the object's bytes (one GET)."""
        import obstore

        try:
            data = bytes(obstore.get(self.store, key).bytes())
        except self._errors() as exc:
            self._fail("read", key, exc)
        self.bytes_read += len(data)
        return data

    def _range(self, key: str, start: int, stop: int) -> tuple[bytes, int]:
        """Bytes ``[start, stop)`` (fewer at the end) and the object's total size."""
        import obstore

        try:
            result = obstore.get(self.store, key, options={"range": (start, stop)})
            data = bytes(result.bytes())
            size = int(result.meta["size"])
        except self._errors() as exc:
            from obstore.exceptions import NotFoundError

            if start == 0 and not isinstance(exc, NotFoundError | FileNotFoundError):
                size = self.size(key)  # an empty object has no byte range to ask for
                if size == 0:
                    return b"", 0
            self._fail("read", key, exc)
        self.bytes_read += len(data)
        return data, size

    def open(self, key: str) -> BinaryIO:
        """Return a seekable reader that fetches byte ranges on demand (the first request also sizes the object)."""
        head, size = self._range(key, 0, FIRST_READ)

        def fetch(start: int, stop: int) -> bytes:
            return self._range(key, start, stop)[0]

        return RangedReader(fetch, size, self.uri(key), head)  # type: ignore[return-value]

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` (one PUT below ``multipart_threshold``; atomic either way)."""
        import obstore

        try:
            obstore.put(
                self.store,
                key,
                data,
                use_multipart=len(data) >= self.multipart_threshold,
                chunk_size=max(self.multipart_threshold // 4, 5 << 20),
                max_concurrency=self.concurrency,
            )
        except self._errors() as exc:
            self._fail("write", key, exc)

    @contextmanager
    def open_write(self, key: str, *, atomic: bool = True) -> Iterator[BinaryIO]:
        """Spool to memory or a temporary file, then upload (multipart above ``multipart_threshold``)."""
        with tempfile.SpooledTemporaryFile(max_size=self.multipart_threshold) as tmp:
            yield tmp  # type: ignore[misc]
            size = tmp.tell()
            tmp.seek(0)
            if size < self.multipart_threshold:
                self.put(key, tmp.read())
            else:
                self._upload(key, tmp)

    @contextmanager
    def open_create(self, key: str, *, owner: str | None = None) -> Iterator[BinaryIO]:
        """Spool, then PUT with ``If-None-Match: *``: the object lands only if ``key`` is free.

        Raises `FileExistsError` when it is taken.  Above ``multipart_threshold`` the check is a HEAD before
        the multipart upload (S3's conditional CompleteMultipartUpload is not exposed by obstore), which
        leaves a window of one upload's duration for a concurrent writer of the same key.
        """
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        with tempfile.SpooledTemporaryFile(max_size=self.multipart_threshold) as tmp:
            yield tmp  # type: ignore[misc]
            size = tmp.tell()
            tmp.seek(0)
            attributes: Any = {_OWNER: owner} if owner else None
            if size >= self.multipart_threshold:
                if self.exists(key):
                    raise FileExistsError(f"{self.uri(key)} exists.")
                self._upload(key, tmp, attributes)
                return
            try:
                obstore.put(self.store, key, tmp.read(), mode="create", use_multipart=False, attributes=attributes)
            except (AlreadyExistsError, PreconditionError):
                raise FileExistsError(f"{self.uri(key)} exists.") from None
            except self._errors() as exc:
                self._fail("write", key, exc)

    def owner(self, key: str) -> str | None:
        """The dataset ID stored with the object by `open_create` (user metadata), or ``None``."""
        import obstore

        try:
            found = obstore.get(self.store, key, options={"head": True}).attributes.get(_OWNER)
        except self._errors() as exc:
            self._fail("stat", key, exc)
        return None if found is None else str(found)

    def mtime(self, key: str) -> float | None:
        """The object's Last-Modified time (one HEAD)."""
        import obstore

        try:
            return obstore.head(self.store, key)["last_modified"].timestamp()
        except self._errors() as exc:
            self._fail("stat", key, exc)

    def put_file(self, path: Path, key: str) -> None:
        """Upload a local file (multipart, parts in parallel, when large)."""
        if path.stat().st_size < self.multipart_threshold:
            self.put(key, path.read_bytes())
            return
        with open(path, "rb") as f:
            self._upload(key, f)

    def _upload(self, key: str, stream: Any, attributes: Any = None) -> None:
        import obstore

        try:
            obstore.put(
                self.store,
                key,
                stream,
                attributes=attributes,
                use_multipart=True,
                chunk_size=max(self.multipart_threshold // 4, 5 << 20),
                max_concurrency=self.concurrency,
            )
        except self._errors() as exc:
            self._fail("write", key, exc)

    def exists(self, key: str) -> bool:
        """Whether the object exists (one HEAD)."""
        try:
            self.size(key)
        except ArtifactNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        """The object's size (one HEAD)."""
        import obstore

        try:
            return int(obstore.head(self.store, key)["size"])
        except self._errors() as exc:
            self._fail("stat", key, exc)

    def delete(self, key: str) -> None:
        """Delete the object (deleting a missing key succeeds, as S3 does)."""
        self.delete_many([key])

    def delete_many(self, keys: Iterable[str]) -> None:
        """Delete objects, a thousand per request."""
        import obstore

        batch = list(keys)
        for start in range(0, len(batch), 1000):
            part = batch[start : start + 1000]
            try:
                obstore.delete(self.store, part)
            except self._errors() as exc:
                from obstore.exceptions import NotFoundError

                if not isinstance(exc, NotFoundError | FileNotFoundError):
                    self._fail("delete", part[0], exc)

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Yield the keys under the directory ``prefix`` (paginated listing)."""
        import obstore

        try:
            for batch in obstore.list(self.store, prefix.rstrip("/") or None, chunk_size=1000):
                for meta in batch:
                    yield meta["path"]
        except self._errors() as exc:
            self._fail("list", prefix, exc)

    def move(self, src: str, dst: str) -> None:
        """Server-side copy, then delete the source (S3 has no rename; objects over 5 GB cannot be copied so)."""
        import obstore

        try:
            obstore.copy(self.store, src, dst, overwrite=True)
        except self._errors() as exc:
            self._fail("copy", src, exc)
        self.delete(src)

    def upload_url(self, key: str, *, expires_in: int = 300) -> str | None:
        """A presigned PUT URL of ``key``, valid for ``expires_in`` seconds (the remote butler's uploads)."""
        import obstore

        try:
            return obstore.sign(self.store, "PUT", key, timedelta(seconds=expires_in))
        except self._errors() as exc:
            self._fail("sign an upload URL for", key, exc)

    def url(self, key: str, *, expires_in: int = 3600) -> str | None:
        """A presigned GET URL, valid for ``expires_in`` seconds (for tools without credentials)."""
        import obstore

        try:
            return obstore.sign(self.store, "GET", key, timedelta(seconds=expires_in))
        except self._errors() as exc:
            self._fail("sign a URL for", key, exc)
