"""`WorkerButler`: one task's butler on a worker, with storage and no database.

It reads the task's inputs and writes its outputs through the same formatters and transports as the
butler, from what the manifest says: the registry is never asked (there is no registry URL to ask).  A put
outside the task's outputs is refused; each put lands atomically in the plan's pending area; `commit`
writes the task's record last.  Merge registers only tasks with a record, so a task that raises or is killed
leaves nothing that will be registered, and can simply run again.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skybutler import _software
from skybutler.datasets import ArtifactInfo, storage_classes
from skybutler.datastore import FileDatastore, PendingArea, write_pending
from skybutler.errors import ConfigError, DatasetNotFoundError, PermissionDeniedError
from skybutler.transports import open_transport
from skybutler.workers._manifest import Manifest, ManifestInput, ManifestOutput
from skybutler.workers._records import (
    TaskRecord,
    attempt_key,
    count_attempts,
    database_modules,
    environment_key,
    guard_against_databases,
    write_record,
)

if TYPE_CHECKING:
    from types import TracebackType

    from skybutler.config import DatastoreConfig
    from skybutler.transports import Transport

__all__ = ["WorkerButler", "WorkerDeferredHandle", "open_worker_datastore", "task_origin"]

_MANIFESTS: dict[tuple[str, float], Manifest] = {}
_DATASTORES: dict[str, FileDatastore] = {}
_ORIGIN: dict[str, Any] = {}
"""This process's host, user, command line and working folder (read once)."""
_ENVIRONMENTS_WRITTEN: set[str] = set()
"""Keys of environment files this process has made sure exist."""


def task_origin(transport: Transport, prefix: str, started: int) -> dict[str, Any]:
    """Where and when a task ran, for its record; the worker's environment is stored once in the area.

    The environment is read once per installation (`skybutler._software`) and its file written when missing:
    checked at each task on a local disk (one ``stat``; a merge may have removed an emptied area meanwhile),
    once per process and area elsewhere (a request each).
    """
    if not _ORIGIN:
        info = _software.process_info()
        _ORIGIN.update({k: info[k] for k in ("host", "user_name", "command", "cwd")})
    fp = _software.fingerprint() if "fingerprint" not in _ORIGIN else _ORIGIN["fingerprint"]
    env = _software.environment_data(fp)
    _ORIGIN["fingerprint"] = fp
    key = environment_key(prefix, env["digest"])
    if key not in _ENVIRONMENTS_WRITTEN or transport.is_local:
        if not transport.exists(key):
            transport.put(key, json.dumps(env, sort_keys=True).encode())
        _ENVIRONMENTS_WRITTEN.add(key)
    return {**_ORIGIN, "env": env["digest"], "started": started, "ended": time.time_ns()}


def open_worker_datastore(header: Mapping[str, Any]) -> FileDatastore:
    """The file datastore a manifest describes, made once per worker process and reused by its tasks."""
    key = json.dumps([header["root"], header["datastore"]], sort_keys=True)
    store = _DATASTORES.get(key)
    if store is None:
        from skybutler.config import load_config

        config: DatastoreConfig = load_config(None, {"datastore": header["datastore"]}, environ={},
                                              source="the manifest's datastore").datastore  # fmt: skip
        store = _DATASTORES[key] = FileDatastore(open_transport(header["root"], **config.transport), config)
    return store


def _load(path: str) -> Manifest:
    """A manifest's header and index, cached per process (keyed by path and modification time)."""
    try:
        key = (path, Path(path).stat().st_mtime)
    except OSError as exc:
        raise ConfigError(f"Cannot read the manifest {path}: {exc}") from None
    manifest = _MANIFESTS.get(key)
    if manifest is None:
        manifest = _MANIFESTS[key] = Manifest.load(path)
    return manifest


def _matches(data_id: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    return all(data_id.get(k) == v for k, v in given.items())


class WorkerDeferredHandle:
    """An input found now and read later (`WorkerButler.get_deferred`)."""

    def __init__(self, worker: WorkerButler, item: ManifestInput, parameters: Mapping[str, Any] | None) -> None:
        self.worker = worker
        self.item = item
        self.parameters = parameters

    def get(self, *, parameters: Mapping[str, Any] | None = None) -> Any:
        """Read the input (``parameters`` override those given when the handle was made)."""
        return self.worker._read(self.item, parameters or self.parameters)

    def __repr__(self) -> str:
        return f"WorkerDeferredHandle({self.item.dataset_type} {self.item.data_id})"


class WorkerButler:
    """The butler of one task on a worker: its inputs and outputs only, storage only, no database.

    Parameters
    ----------
    manifest
        The plan (`Manifest`), or the path of a saved one.
    task
        The task's index in the plan.
    isolated
        Make this process a guarded worker (`guard_against_databases`): refuse to run where a PostgreSQL
        driver is imported, and refuse every SQLite connection from then on (an audit hook, for the life of
        the process: use it in worker processes only).  Checked again at `commit`.

    Examples
    --------
    >>> with WorkerButler.from_manifest("r1.manifest", task=17) as wb:  # doctest: +SKIP
    ...     wb.put(measure(wb.get("calexp")), "src")
    """

    def __init__(self, manifest: Manifest | str | os.PathLike[str], task: int, *, isolated: bool = False) -> None:
        self._started = time.perf_counter()
        self._started_ns = time.time_ns()
        self.isolated = isolated
        self._check_isolation()
        self.manifest = manifest if isinstance(manifest, Manifest) else _load(os.fspath(manifest))
        self.task = self.manifest.task(task)
        self.run = self.manifest.run
        self._store = open_worker_datastore(self.manifest.header)
        self._area = PendingArea(self._store.transport, self.manifest.area)
        self._written: dict[uuid.UUID, tuple[int, str | None]] = {}
        self._committed: TaskRecord | None = None
        transport = self._store.transport
        self.attempt = count_attempts(transport, self._area.prefix, task) + 1
        # counted by the engines: retries show, killed attempts too
        transport.put(attempt_key(self._area.prefix, task, self.attempt), b"")

    @classmethod
    def from_manifest(cls, path: str | os.PathLike[str], task: int, *, isolated: bool = False) -> WorkerButler:
        """Open task ``task`` of the manifest saved at ``path`` (its header and line only are read)."""
        return cls(path, task, isolated=isolated)

    def __repr__(self) -> str:
        return f"WorkerButler(task={self.task.index}, run={self.run!r}, plan={self.manifest.plan_id})"

    def _check_isolation(self) -> None:
        if self.isolated:
            guard_against_databases()

    # -- lookups --------------------------------------------------------------------------------------------
    def _input(self, dataset_type: str, data_id: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> ManifestInput:
        given = {**(data_id or {}), **kwargs}
        found = [i for i in self.task.inputs if i.dataset_type == dataset_type and _matches(i.data_id, given)]
        if len(found) == 1:
            return found[0]
        names = sorted({f"{i.dataset_type} {i.data_id}" for i in self.task.inputs})
        if not found:
            raise DatasetNotFoundError(
                f"Task {self.task.index} has no input {dataset_type} {given or ''}; its inputs are: "
                f"{', '.join(names) or 'none'}. Inputs are resolved when the plan is made (plan_work)."
            )
        raise DatasetNotFoundError(
            f"Task {self.task.index} has {len(found)} inputs {dataset_type} matching {given}; give a data ID "
            f"that picks one of: {', '.join(str(i.data_id) for i in found)}."
        )

    def _output(
        self, dataset_type: str, data_id: Mapping[str, Any] | None, kwargs: Mapping[str, Any]
    ) -> ManifestOutput:
        given = {**(data_id or {}), **kwargs}
        found = [o for o in self.task.outputs if o.dataset_type == dataset_type and _matches(o.data_id, given)]
        if len(found) == 1:
            return found[0]
        allowed = ", ".join(f"{o.dataset_type} {o.data_id}" for o in self.task.outputs) or "none"
        raise PermissionDeniedError(
            f"Task {self.task.index} may not write {dataset_type} {given or ''}: a worker writes only the outputs "
            f"its manifest names ({allowed}). Add the dataset type to plan_work(outputs=...) and plan again."
        )

    # -- reads ----------------------------------------------------------------------------------------------
    def _read(self, item: ManifestInput, parameters: Mapping[str, Any] | None) -> Any:
        artifact = ArtifactInfo(item.path, item.formatter, item.storage_class, item.size, item.checksum)
        return self._store.read(artifact, parameters=parameters, dataset_type=item.dataset_type)

    def get(
        self,
        dataset_type: str,
        data_id: Mapping[str, Any] | None = None,
        *,
        parameters: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Read one of the task's inputs (the data ID may be left out when the task has one of that type).

        Raises
        ------
        DatasetNotFoundError
            The task has no such input, or several match.
        CorruptArtifactError
            The file's size or checksum differs from what the plan recorded.
        """
        return self._read(self._input(dataset_type, data_id, kwargs), parameters)

    def get_deferred(
        self,
        dataset_type: str,
        data_id: Mapping[str, Any] | None = None,
        *,
        parameters: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> WorkerDeferredHandle:
        """A handle that reads the input on its `get` (the input is checked to be the task's now)."""
        return WorkerDeferredHandle(self, self._input(dataset_type, data_id, kwargs), parameters)

    def exists(self, dataset_type: str, data_id: Mapping[str, Any] | None = None, **kwargs: Any) -> bool:
        """Whether the task has this input, or has written this output already (in this attempt)."""
        given = {**(data_id or {}), **kwargs}
        if any(i.dataset_type == dataset_type and _matches(i.data_id, given) for i in self.task.inputs):
            return True
        return any(
            o.dataset_type == dataset_type and _matches(o.data_id, given) and o.id in self._written
            for o in self.task.outputs
        )

    # -- writes ---------------------------------------------------------------------------------------------
    def put(
        self, obj: Any, dataset_type: str, data_id: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> ManifestOutput:
        """Write one of the task's outputs to the pending area; return what the manifest says of it.

        A second put of the same output in one attempt replaces the first (the record keeps the last).

        Raises
        ------
        PermissionDeniedError
            The output is not one of the task's, or the task was committed already.
        FormatterError
            ``obj`` is not of the dataset type's storage class.
        StorageError
            The bytes could not be written.
        """
        if self._committed is not None:
            raise PermissionDeniedError(f"Task {self.task.index} is committed; its outputs can no longer change.")
        out = self._output(dataset_type, data_id, kwargs)
        sc = storage_classes.get(out.storage_class)
        self._written[out.id] = write_pending(self._store, out.pending, obj, out.formatter, sc)
        return out

    def commit(self) -> TaskRecord:
        """Write the task's record (what it wrote) beside its outputs and return it; merge reads it.

        Committing again returns the same record.
        """
        if self._committed is not None:
            return self._committed
        self._check_isolation()
        transport, prefix = self._store.transport, self._area.prefix
        record = TaskRecord(
            self.manifest.plan_id,
            self.task.index,
            [(i.hex, size, checksum) for i, (size, checksum) in self._written.items()],
            self.attempt,
            time.perf_counter() - self._started,
            database_modules(),
            task_origin(transport, prefix, self._started_ns),
        )
        write_record(transport, prefix, record)
        self._committed = record
        return record

    def __enter__(self) -> WorkerButler:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
