"""Amazon S3 and S3-compatible object stores (MinIO, Ceph, moto), through boto3.

Where settings come from: the endpoint from the ``endpoint_url`` option (``datastore.transport`` in
``butler.yaml``) or the standard ``AWS_ENDPOINT_URL``; credentials and region only from the standard AWS
chain (environment, ``AWS_PROFILE`` or the ``profile`` option, config files, instance roles).  Credentials
are refused as options, so they never land in ``butler.yaml``, the registry or a message.

Atomicity: S3 shows an object only once its single PUT, or the CompleteMultipartUpload of a large one,
has succeeded, so readers see the old bytes or the new.  A crash mid-upload leaves no object, but an
interrupted multipart upload keeps its parts (billed, invisible) until it is aborted: give the bucket a
lifecycle rule ``AbortIncompleteMultipartUpload``.  ``move`` is copy-then-delete, so a crash between the two
leaves both keys; the datastore's reconcile removes the staging copy.

boto3 clients are thread-safe but must not cross a ``fork``: each process makes its own, on first use.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, NoReturn

from skybutler.errors import ArtifactNotFoundError, ConfigError, StorageError
from skybutler.transports._ranged import MIN_READAHEAD, RangedReader
from skybutler.transports._transport import Transport

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3Transport"]

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_OPTIONS = frozenset({"endpoint_url", "profile", "region", "max_concurrency", "multipart_threshold", "max_attempts"})


class S3Transport(Transport):
    """Objects under ``s3://bucket/prefix/``.

    Parameters
    ----------
    root
        ``s3://bucket`` or ``s3://bucket/prefix``.
    endpoint_url
        S3 endpoint, for stores other than AWS; default: ``AWS_ENDPOINT_URL``, else AWS itself.
    profile
        AWS profile name (default: ``AWS_PROFILE``, else the default chain).
    region
        Region name (default: the AWS configuration's).
    max_concurrency
        Parallel requests for bulk operations (`concurrency`) and multipart transfers.
    multipart_threshold
        Uploads at least this large (bytes) go as multipart uploads.
    max_attempts
        Attempts per request, retries included (botocore's "standard" retry mode).
    """

    scheme = "s3"
    concurrency: int = 16
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
        self.multipart_threshold = multipart_threshold
        self.max_attempts = max_attempts
        self.bytes_read = 0
        """Bytes received from the store by this transport (whole and ranged reads)."""
        self._lock = threading.Lock()
        self._client: S3Client | None = None
        self._pid = -1

    # -- the client --------------------------------------------------------------------------------------------
    @property
    def client(self) -> S3Client:
        """This process's boto3 client (made on first use; boto3 clients are thread-safe, not fork-safe)."""
        client = self._client
        if client is not None and self._pid == os.getpid():
            return client
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                import boto3
                from botocore.config import Config

                session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
                config = Config(
                    max_pool_connections=max(self.concurrency, 10),
                    retries={"mode": "standard", "max_attempts": self.max_attempts},
                    connect_timeout=5,
                    read_timeout=60,
                )
                self._client = session.client("s3", endpoint_url=self.endpoint_url, config=config)
                self._pid = os.getpid()
            return self._client

    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=max(self.multipart_threshold // 4, 8 << 20),
            max_concurrency=self.concurrency,
        )

    def _fail(self, action: str, key: str, exc: Exception) -> NoReturn:
        """Turn a botocore error into ours: a missing key, or a `StorageError` that says what to check."""
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise ArtifactNotFoundError(f"No object {self.uri(key)}.") from None
            if code == "NoSuchBucket":
                raise StorageError(
                    f"Cannot {action} {self.uri(key)}: bucket {self.bucket!r} does not exist at "
                    f"{self.endpoint_url or 'AWS'}; create it or fix datastore.root."
                ) from None
            detail = f"{code}: {exc.response.get('Error', {}).get('Message', '')}"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        raise StorageError(
            f"Cannot {action} {self.uri(key)} (endpoint {self.endpoint_url or 'AWS'}): {detail}. Check the "
            "endpoint, network and credentials (AWS_* environment, profile), then retry."
        ) from exc

    def _errors(self) -> tuple[type[Exception], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        return (ClientError, BotoCoreError)

    # -- the interface --------------------------------------------------------------------------------------
    def get(self, key: str) -> bytes:
        """Return the object's bytes (one GET)."""
        try:
            data = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except self._errors() as exc:
            self._fail("read", key, exc)
        self.bytes_read += len(data)
        return data

    def _range(self, key: str, start: int, stop: int) -> tuple[bytes, int]:
        """Bytes ``[start, stop)`` and the object's total size."""
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=self.prefix + key, Range=f"bytes={start}-{stop - 1}"
            )
            data = response["Body"].read()
        except self._errors() as exc:
            from botocore.exceptions import ClientError

            if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b"", self.size(key)  # an empty object has no byte 0
            self._fail("read", key, exc)
        self.bytes_read += len(data)
        content_range = response.get("ContentRange") or ""
        total = content_range.rpartition("/")[2]
        return data, int(total) if total.isdigit() else int(response["ContentLength"])

    def open(self, key: str) -> BinaryIO:
        """Return a seekable reader that fetches byte ranges on demand (the first request also sizes the object)."""
        head, size = self._range(key, 0, MIN_READAHEAD)

        def fetch(start: int, stop: int) -> bytes:
            return self._range(key, start, stop)[0]

        return RangedReader(fetch, size, self.uri(key), head)  # type: ignore[return-value]

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` with one PUT (atomic: the object appears whole or not at all)."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
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
                return
            try:
                self.client.upload_fileobj(tmp, self.bucket, self.prefix + key, Config=self._transfer_config())
            except self._errors() as exc:
                self._fail("write", key, exc)

    def put_file(self, path: Path, key: str) -> None:
        """Upload a local file (multipart and parallel when large)."""
        try:
            self.client.upload_file(str(path), self.bucket, self.prefix + key, Config=self._transfer_config())
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
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)["ContentLength"])
        except self._errors() as exc:
            self._fail("stat", key, exc)

    def delete(self, key: str) -> None:
        """Delete the object (deleting a missing key succeeds, as S3 does)."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except self._errors() as exc:
            self._fail("delete", key, exc)

    def delete_many(self, keys: Iterable[str]) -> None:
        """Delete objects a thousand per request."""
        batch: list[str] = []
        for key in keys:
            batch.append(key)
            if len(batch) == 1000:
                self._delete_batch(batch)
                batch = []
        if batch:
            self._delete_batch(batch)

    def _delete_batch(self, keys: list[str]) -> None:
        objects: Any = [{"Key": self.prefix + k} for k in keys]
        try:
            response = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        except self._errors() as exc:
            self._fail("delete", keys[0], exc)
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise StorageError(
                f"Could not delete {len(errors)} object(s) under {self.root}, e.g. {first.get('Key')}: "
                f"{first.get('Code')} {first.get('Message')}; retry, or run reconcile."
            )

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Yield the keys under ``prefix`` (paginated listing, a thousand per request)."""
        skip = len(self.prefix)
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"][skip:]
        except self._errors() as exc:
            self._fail("list", prefix, exc)

    def move(self, src: str, dst: str) -> None:
        """Server-side copy, then delete the source (S3 has no rename)."""
        source: Any = {"Bucket": self.bucket, "Key": self.prefix + src}
        try:
            self.client.copy_object(Bucket=self.bucket, Key=self.prefix + dst, CopySource=source)
        except self._errors() as exc:
            from botocore.exceptions import ClientError

            too_large = isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "InvalidRequest"
            if not too_large:  # over 5 GB a copy needs the multipart copier
                self._fail("copy", src, exc)
            try:
                self.client.copy(source, self.bucket, self.prefix + dst, Config=self._transfer_config())
            except self._errors() as exc2:
                self._fail("copy", src, exc2)
        self.delete(src)

    def url(self, key: str, *, expires_in: int = 3600) -> str | None:
        """A presigned GET URL, valid for ``expires_in`` seconds (for tools without credentials)."""
        try:
            return str(
                self.client.generate_presigned_url(
                    "get_object", Params={"Bucket": self.bucket, "Key": self.prefix + key}, ExpiresIn=expires_in
                )
            )
        except self._errors() as exc:
            self._fail("sign a URL for", key, exc)
