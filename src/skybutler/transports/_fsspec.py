"""Any fsspec file system as a transport: Google Cloud Storage, Azure, and the rest of fsspec's protocols.

Roots are ``gs://bucket/prefix`` and ``az://container/prefix`` directly, or ``fsspec+<protocol>://...`` for
any other protocol fsspec knows (``fsspec+memory://`` in tests).  The protocol's own package (gcsfs, adlfs,
...) must be installed; credentials come from its standard places, never from our configuration, except
what ``storage_options`` passes (non-secret settings such as a project or an endpoint).

Atomicity is the backend's: object stores (gs, az) write objects whole; fsspec's local and SFTP back-ends
do not, which is why ``file://`` and ``s3://`` have their own transports.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO, ClassVar

from skybutler.errors import ArtifactNotFoundError, ConfigError, MissingDependencyError, StorageError
from skybutler.transports._transport import Transport

__all__ = ["FsspecTransport"]


class FsspecTransport(Transport):
    """Keys under a path of an fsspec file system.

    Parameters
    ----------
    root
        ``<protocol>://path`` or ``fsspec+<protocol>://path``.
    storage_options
        Keyword arguments for the fsspec file system (no credentials).
    """

    scheme = "fsspec"
    options: ClassVar[frozenset[str]] = frozenset({"storage_options", "max_concurrency"})

    def __init__(self, root: str, *, storage_options: dict[str, Any] | None = None, max_concurrency: int = 8) -> None:
        scheme, sep, path = root.partition("://")
        if not sep:
            raise ConfigError(f"Not a URI: {root!r}; write <protocol>://path or fsspec+<protocol>://path.")
        protocol = scheme.removeprefix("fsspec+")
        super().__init__(root)
        import fsspec

        try:
            self.fs = fsspec.filesystem(protocol, **(storage_options or {}))
        except ImportError as exc:
            raise MissingDependencyError(
                f"The fsspec protocol {protocol!r} needs a package that is not installed: {exc}"
            ) from exc
        except ValueError as exc:
            raise ConfigError(f"fsspec does not know the protocol {protocol!r}: {exc}") from exc
        self.base: str = str(self.fs._strip_protocol(f"{protocol}://{path}")).rstrip("/") + "/"
        self.concurrency = max_concurrency if not getattr(self.fs, "local_file", False) else 1

    def _path(self, key: str) -> str:
        return str(self.base + key)

    def _fail(self, action: str, key: str, exc: Exception) -> None:
        if isinstance(exc, FileNotFoundError):
            raise ArtifactNotFoundError(f"No object {self.uri(key)}.") from None
        raise StorageError(f"Cannot {action} {self.uri(key)}: {type(exc).__name__}: {exc}") from exc

    def get(self, key: str) -> bytes:
        """``cat_file``."""
        try:
            return bytes(self.fs.cat_file(self._path(key)))
        except Exception as exc:
            self._fail("read", key, exc)
            raise

    def put(self, key: str, data: bytes) -> None:
        """``pipe_file`` (whole-object write on object stores)."""
        try:
            self.fs.pipe_file(self._path(key), data)
        except Exception as exc:
            self._fail("write", key, exc)

    def exists(self, key: str) -> bool:
        """``exists``."""
        return bool(self.fs.exists(self._path(key)))

    def size(self, key: str) -> int:
        """``size``."""
        try:
            return int(self.fs.size(self._path(key)))
        except Exception as exc:
            self._fail("stat", key, exc)
            raise

    def delete(self, key: str) -> None:
        """``rm_file``; a missing key is fine."""
        try:
            self.fs.rm_file(self._path(key))
        except FileNotFoundError:
            return
        except Exception as exc:
            self._fail("delete", key, exc)

    def keys(self, prefix: str = "") -> Iterator[str]:
        """``find`` under the prefix."""
        start = self._path(prefix).rstrip("/")
        try:
            found = self.fs.find(start) if self.fs.isdir(start) else []
        except Exception as exc:
            self._fail("list", prefix, exc)
            raise
        for path in sorted(found):
            yield path[len(self.base) :]

    def open(self, key: str) -> BinaryIO:
        """fsspec's own buffered, seekable file (ranged reads on object stores)."""
        try:
            return self.fs.open(self._path(key), "rb")  # type: ignore[no-any-return]
        except Exception as exc:
            self._fail("read", key, exc)
            raise

    def move(self, src: str, dst: str) -> None:
        """``mv`` (copy-then-delete on object stores)."""
        if not self.exists(src):
            raise ArtifactNotFoundError(f"No object {self.uri(src)} to move.")
        try:
            self.fs.mv(self._path(src), self._path(dst))
        except Exception as exc:
            self._fail("move", src, exc)

    def url(self, key: str, *, expires_in: int = 3600) -> str | None:
        """A signed URL where the file system can make one, else ``None``."""
        try:
            return str(self.fs.sign(self._path(key), expiration=expires_in))
        except NotImplementedError:
            return None
