"""The pending-writes area: bytes written before anyone registered them, kept apart until a merge or expiry.

Scale-out workers write their outputs without a registry (`skybutler.workers`), and a server may accept an
upload before it commits it; either way the bytes exist before the registry knows of them.  They live under
one reserved prefix of the datastore root, ``.pending/``, in one folder per *area* (a plan, an upload
session)::

    .pending/<area>/area.json          {"kind": "plan", "created": ..., "expires": ...}  (POSIX seconds)
    .pending/<area>/<anything>         the area's files, named by its owner

The registry still is the truth about existence (DESIGN invariant 1): nothing under ``.pending/`` is a
dataset until its owner registers it and moves it to its final path.  ``.pending`` is a reserved root name
(`RESERVED_ROOT_NAMES`), so templates never render into it and reconcile never lists its files as unknown.
Reconcile reports them apart instead (`ReconcileReport.pending`) until their area *expires*; after that they
are unknown artifacts like any other (listed, deleted with ``remove_unknown``).  An area without a readable
``area.json`` expires `DEFAULT_EXPIRY` after its files were last written.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skybutler.errors import ArtifactNotFoundError, ConfigError, FormatterError, StorageError

if TYPE_CHECKING:
    from skybutler.datasets import StorageClass
    from skybutler.datastore._file_datastore import FileDatastore
    from skybutler.transports import Transport

__all__ = [
    "DEFAULT_EXPIRY",
    "PENDING",
    "PendingArea",
    "PendingScan",
    "pending_ids",
    "scan_pending",
    "verify_pending",
    "write_pending",
]

PENDING = ".pending/"
"""The reserved key prefix of the pending-writes area."""

DEFAULT_EXPIRY = 7 * 86400.0
"""Seconds an area is kept from reconcile's deletion when its owner gives no expiry: a week, longer than a
campaign's batch jobs usually wait in a queue."""

_MARKER = "area.json"


@dataclass(frozen=True, slots=True)
class PendingArea:
    """One folder of the pending-writes area, owned by a plan (scale-out) or an upload session (server).

    Examples
    --------
    >>> from skybutler.transports import open_transport
    >>> area = PendingArea.create(open_transport("mem://pending-doc/"), "plan", area_id="p1", expires_in=60)
    >>> area.key("abc.json")
    '.pending/p1/abc.json'
    >>> area.info()["kind"]
    'plan'
    """

    transport: Transport
    area_id: str

    @classmethod
    def create(
        cls, transport: Transport, kind: str, *, area_id: str | None = None, expires_in: float = DEFAULT_EXPIRY
    ) -> PendingArea:
        """Open a new area (or renew an existing one's expiry) and write its marker.

        Raises
        ------
        ConfigError
            ``area_id`` is not a single safe path segment, or ``expires_in`` is not positive.
        """
        area_id = area_id or uuid.uuid4().hex
        if not area_id.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"A pending area's id must be letters, digits, '-' and '_' only; got {area_id!r}.")
        if expires_in <= 0:
            raise ConfigError(f"A pending area's expiry must be positive seconds; got {expires_in}.")
        now = time.time()
        area = cls(transport, area_id)
        marker = {"kind": kind, "created": now, "expires": now + expires_in}
        transport.put(area.key(_MARKER), json.dumps(marker).encode())
        return area

    @property
    def prefix(self) -> str:
        """The key prefix of this area's files (ends with ``/``)."""
        return f"{PENDING}{self.area_id}/"

    def key(self, name: str) -> str:
        """The key of ``name`` (a relative key chosen by the owner) in this area."""
        return self.prefix + name

    def info(self) -> dict[str, Any]:
        """The marker: ``kind``, ``created`` and ``expires`` (POSIX seconds).

        Raises
        ------
        ArtifactNotFoundError
            The area has no marker (never created, or removed).
        """
        return dict(json.loads(self.transport.get(self.key(_MARKER))))

    def keys(self, sub: str = "") -> list[str]:
        """Keys of the area's files under ``sub`` (the marker excluded)."""
        marker = self.key(_MARKER)
        return [k for k in self.transport.keys(self.prefix + sub) if k != marker]

    def remove(self, keys: Iterable[str] | None = None) -> None:
        """Delete ``keys`` of this area, or (with None) every file of it, its marker last."""
        if keys is None:
            self.transport.delete_many(self.keys())
            self.transport.delete(self.key(_MARKER))
            return
        self.transport.delete_many([k for k in keys if k.startswith(self.prefix)])


@dataclass(slots=True)
class PendingScan:
    """What `scan_pending` found under ``.pending/``."""

    live: list[str] = field(default_factory=list)
    """Files of areas not yet expired: their owners may still register them."""
    expired: list[str] = field(default_factory=list)
    """Files (markers included) of expired areas: unknown artifacts from now on."""


def scan_pending(transport: Transport, now: float | None = None) -> PendingScan:
    """Sort the pending area's files into live and expired ones (see the module docstring)."""
    now = time.time() if now is None else now
    by_area: dict[str, list[str]] = {}
    for key in transport.keys(PENDING):
        area_id = key[len(PENDING) :].partition("/")[0]
        by_area.setdefault(area_id, []).append(key)
    scan = PendingScan()
    for area_id, keys in sorted(by_area.items()):
        expires = _expiry(transport, area_id, keys)
        marker = f"{PENDING}{area_id}/{_MARKER}"
        if expires is not None and expires <= now:
            scan.expired.extend(sorted(keys))
        else:
            scan.live.extend(sorted(k for k in keys if k != marker))
    return scan


def pending_ids(keys: Iterable[str]) -> dict[str, str]:
    """The keys among ``keys`` whose file name is a dataset ID (32 hex digits) and an extension, as key → ID.

    Owners name the files they will register so: a worker's output ``<area>/.out/<id><ext>``, an upload
    ``<area>/<id><ext>``.  Once the owner has registered the dataset, such a file is its bytes until the
    owner moves them to the final path (`FileDatastore.reconcile_files` finishes that move after a crash).
    """
    found = {}
    for key in keys:
        name = key.rpartition("/")[2]
        id_hex = name.partition(".")[0]
        if len(id_hex) == 32 and all(c in _HEX for c in id_hex):
            found[key] = id_hex
    return found


_HEX = frozenset("0123456789abcdef")


def _expiry(transport: Transport, area_id: str, keys: list[str]) -> float | None:
    """When the area expires: its marker's word, else `DEFAULT_EXPIRY` after its newest file (None: unknown)."""
    try:
        return float(json.loads(transport.get(f"{PENDING}{area_id}/{_MARKER}"))["expires"])
    except (ArtifactNotFoundError, ValueError, KeyError, TypeError):
        pass
    times = []
    for key in keys:
        try:
            mtime = transport.mtime(key)
        except ArtifactNotFoundError:
            continue
        if mtime is not None:
            times.append(mtime)
    return max(times) + DEFAULT_EXPIRY if times else None


def write_pending(
    store: FileDatastore, key: str, obj: Any, formatter_name: str, storage_class: StorageClass
) -> tuple[int, str | None]:
    """Write ``obj`` at ``key`` (in the pending area) atomically with the named formatter; return size and checksum.

    The same checks and bytes as a put (`FileDatastore.prepare`): the object is coerced to its storage class
    first, and the checksum is computed while the bytes stream.  The key appears complete or not at all (a
    temporary name renamed on local disks, one request on object stores), so a worker killed mid-write
    leaves no file a merge could mistake for an output.

    Raises
    ------
    FormatterError
        ``obj`` is not of the storage class, or the formatter cannot write it.
    StorageError
        The bytes could not be written.
    """
    import shutil
    import tempfile
    from pathlib import Path

    from skybutler.datastore._checksums import HashingWriter

    formatter = store.formatter_instance(formatter_name)
    try:
        obj = storage_class.coerce(obj)
        with store.transport.open_write(key) as raw:
            writer = HashingWriter(raw, store.config.checksum)
            if formatter.writes_streams:
                formatter.write(obj, writer)  # type: ignore[arg-type]
            else:  # formatters that seek while writing get a local file, copied through the hash
                with tempfile.TemporaryDirectory(prefix="skybutler-") as tmp:
                    local = Path(tmp) / f"obj{formatter.extensions[0]}"
                    formatter.write_file(obj, local)
                    with open(local, "rb") as src:
                        shutil.copyfileobj(src, writer, 1 << 20)
    except (FormatterError, StorageError):
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise FormatterError(f"Formatter {formatter_name!r} could not write {key}: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"Could not write {store.transport.uri(key)}: {exc}") from exc
    return writer.size, writer.checksum


def verify_pending(store: FileDatastore, key: str, size: int, checksum: str | None) -> str | None:
    """Re-read a pending file; ``None`` when its size and checksum are the ones given, else what differs
    (``"missing"``, ``"unreadable: ..."``, or the mismatch)."""
    from skybutler.datasets import ArtifactInfo
    from skybutler.datastore._checked_reads import verify_artifact

    return verify_artifact(store.transport, key, ArtifactInfo(key, "", "", size, checksum))
