"""The in-memory datastore: the Python objects themselves, for tests and a pipeline's scratch data.

Nothing is serialized: a put keeps the object (a deep copy, unless ``copy_objects: false``) and a get
returns it (again a deep copy), with components, read parameters and storage-class conversion applied to
the object as a file formatter would apply them while reading (`_object_parts`).

**Lifetime.**  The objects live in a store shared by the whole process and keyed by the repository's
registry (URL and schema) and the datastore's name, so every `Butler` of one repository in one process sees
the same datasets, as it sees the same registry rows.  They stay until removed or until the process ends.
The registry, usually on disk, outlives them: after a restart its rows point at objects that are gone.
That is expected, and it is recognisable: a get raises `ArtifactNotFoundError` saying so (or, in a chain,
reads the next child's copy), `Butler.verify` lists such datasets as missing and `Butler.reconcile` reports
them; `Butler.remove` drops them.

A put follows the file datastore's protocol: the object waits in a staging area until its dataset is
registered, then `promote_many` makes it visible; a failed registration drops it.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from skybutler.datasets import ArtifactInfo, storage_classes
from skybutler.datastore._base import LeafDatastore, ReconcileReport
from skybutler.datastore._file_datastore import Staged, check_data_model
from skybutler.datastore._object_parts import component_of, with_parameters
from skybutler.errors import ArtifactNotFoundError, FormatterError

if TYPE_CHECKING:
    from skybutler.config import DatastoreConfig
    from skybutler.datasets import DatasetRef, DatasetType, StorageClass

__all__ = ["MEMORY_FORMATTER", "MemoryDatastore"]

#: What the registry records as the formatter of an object held in memory (no formatter wrote it).
MEMORY_FORMATTER = "memory"


class _Store:
    """One repository's objects in this process: promoted (visible) and staged (put, not yet registered)."""

    __slots__ = ("lock", "objects", "staged")

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.staged: dict[str, tuple[Any, float]] = {}
        self.lock = threading.Lock()


_STORES: dict[str, _Store] = {}
_STORES_LOCK = threading.Lock()


def _store(key: str) -> _Store:
    with _STORES_LOCK:
        found = _STORES.get(key)
        if found is None:
            found = _STORES[key] = _Store()
        return found


class MemoryDatastore(LeafDatastore):
    """Datasets as Python objects in this process, shared by every butler of the repository here.

    Parameters
    ----------
    config
        The datastore's configuration (``type: memory``).
    key
        Identifies the repository in this process (its registry URL and schema): butlers with the same key
        share the objects.
    """

    kind = "memory"

    def __init__(self, config: DatastoreConfig, key: str) -> None:
        super().__init__(config)
        self.key = f"{key}#{config.name}"
        self._store = _store(self.key)

    def __len__(self) -> int:
        return len(self._store.objects)

    def _copy(self, obj: Any, what: str) -> Any:
        if not self.config.copy_objects:
            return obj
        try:
            return copy.deepcopy(obj)
        except Exception as exc:
            raise FormatterError(
                f"The in-memory datastore could not copy this {what} ({type(obj).__qualname__}): {exc}. Set "
                "copy_objects: false for this datastore to keep the object itself."
            ) from exc

    # -- put ------------------------------------------------------------------------------------------------
    def validate(self, dataset_type: DatasetType) -> None:
        """Any storage class can be held in memory: nothing to check beyond it being known."""
        storage_classes.get(dataset_type.storage_class)

    def prepare_many(
        self, refs: Sequence[DatasetRef], objects: Sequence[Any], storage_class: StorageClass | None = None
    ) -> list[Staged]:
        """Check each object and keep it (a copy) in the staging area; all or none.

        Raises
        ------
        FormatterError
            An object is not of its dataset type's storage class, breaks its data model, or cannot be copied.
        ConfigError
            This datastore's constraints refuse the dataset type.
        """
        for dataset_type in {ref.dataset_type.name: ref.dataset_type for ref in refs}.values():
            self.check_accepts(dataset_type)
        prepared: list[tuple[Staged, Any]] = []
        for ref, obj in zip(refs, objects, strict=True):
            dataset_type = ref.dataset_type
            sc = storage_class or storage_classes.get(dataset_type.storage_class)
            obj = sc.coerce(obj)
            check_data_model(self.config, dataset_type, obj)
            id_hex = ref.id.hex
            artifact = ArtifactInfo(id_hex, MEMORY_FORMATTER, sc.name, 0, None, datastore=self.name)
            prepared.append((Staged(id_hex, id_hex, artifact), self._copy(obj, dataset_type.name)))
        now = time.monotonic()
        with self._store.lock:
            for staged, obj in prepared:
                self._store.staged[staged.dataset_id] = (obj, now)
        return [staged for staged, _ in prepared]

    def promote_many(self, staged: Sequence[Any]) -> None:
        """Make the staged objects visible as their (now registered) datasets."""
        store = self._store
        with store.lock:
            for s in staged:
                found = store.staged.pop(s.dataset_id, None)
                if found is not None:
                    store.objects[s.artifact.path] = found[0]

    def abort_many(self, staged: Sequence[Any]) -> None:
        """Drop staged objects whose registration failed."""
        with self._store.lock:
            for s in staged:
                self._store.staged.pop(s.dataset_id, None)

    # -- get ------------------------------------------------------------------------------------------------
    def read(
        self,
        artifact: ArtifactInfo,
        *,
        storage_class: StorageClass | None = None,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        dataset_type: str | None = None,
    ) -> Any:
        """Return the object (a copy unless ``copy_objects`` is off), or the part asked for.

        Raises
        ------
        ArtifactNotFoundError
            The object is gone: it was put by a process that has ended (or removed by another butler).
        FormatterError
            An unknown component or parameter.
        """
        try:
            obj = self._store.objects[artifact.path]
        except KeyError:
            raise ArtifactNotFoundError(
                f"The in-memory datastore {self.name or 'memory'!r} holds no object for dataset {artifact.path}"
                f"{' (' + dataset_type + ')' if dataset_type else ''}: objects in memory last only as long as "
                "the process that put them. Remove the dataset (butler.remove) or put it again; "
                "butler.verify() lists every such dataset."
            ) from None
        stored = storage_classes.get(artifact.storage_class)
        if parameters is not None:
            obj = with_parameters(obj, stored, parameters)
        if component is not None:
            obj = component_of(obj, stored, component, parameters)
        obj = self._copy(obj, dataset_type or "dataset")
        if storage_class is not None and component is None and storage_class.name != artifact.storage_class:
            obj = storage_class.coerce(obj)
        return obj

    def uri(self, artifact: ArtifactInfo) -> str:
        """``memory://<datastore name>/<dataset id>``: a name for messages; nothing outside this process reads it."""
        return f"memory://{self.name or 'memory'}/{artifact.path}"

    # -- maintenance ------------------------------------------------------------------------------------------
    def verify(self, artifact: ArtifactInfo) -> str | None:
        """``"missing"`` when the object is gone; there are no bytes to check otherwise."""
        return None if artifact.path in self._store.objects else "missing"

    def delete(self, paths: Iterable[str]) -> None:
        """Drop the objects (and any staged ones) of these dataset IDs."""
        with self._store.lock:
            for path in paths:
                self._store.objects.pop(path, None)
                self._store.staged.pop(path, None)

    def staged_ids(self) -> list[str]:
        """Dataset IDs of objects put but not yet promoted or dropped."""
        return list(self._store.staged)

    def unknown_keys(self, live_paths: set[str]) -> list[str]:
        """Objects whose datasets are no longer registered (removed through another process's butler)."""
        return sorted(p for p in self._store.objects if p not in live_paths)

    def reconcile_files(
        self,
        registered: Mapping[str, str],
        live_paths: set[str],
        trash_paths: Iterable[str],
        *,
        grace_seconds: float = 600.0,
        remove_unknown: bool = False,
        registered_pending: Mapping[str, ArtifactInfo] | None = None,
    ) -> ReconcileReport:
        """Drop trashed objects; promote or drop staged ones older than the grace period; report the rest.

        ``missing`` lists the registered datasets whose objects are gone (a previous process put them).
        """
        report = ReconcileReport()
        store = self._store
        now = time.monotonic()
        with store.lock:
            for path in trash_paths:
                if path not in live_paths and store.objects.pop(path, None) is not None:
                    report.removed_trash.append(path)
            for id_hex, (obj, since) in list(store.staged.items()):
                if now - since < grace_seconds:
                    continue
                del store.staged[id_hex]
                final = registered.get(id_hex)
                if final is not None:
                    store.objects[final] = obj
                    report.promoted.append(final)
                else:
                    report.removed_staging.append(id_hex)
            for path in [p for p in store.objects if p not in live_paths]:
                report.unknown.append(path)
                if remove_unknown:
                    del store.objects[path]
            report.missing = sorted(p for p in live_paths if p not in store.objects)
        return report
