"""The `Butler`: what users hold.  Thin: it wires the registry and datastore together and delegates."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from skybutler.butler._calibration_time import calibration_miss, check_as_of, observation_time
from skybutler.butler._deferred import DeferredDatasetHandle
from skybutler.butler._provenance import input_ids, refuse_used
from skybutler.butler._repository import create_repository, read_repo_file, root_text
from skybutler.butler._run_context import put_recorder
from skybutler.butler._writes import put_objects
from skybutler.config import CONFIG_FILE, ButlerConfig, load_config
from skybutler.datasets import DatasetRef, DatasetType, storage_classes
from skybutler.datastore import Datastore, open_datastore
from skybutler.dimensions import DataCoordinate, DimensionUniverse, normalize_data_id, to_tai_ns
from skybutler.errors import (
    CollectionError,
    ConfigError,
    ConflictError,
    DataIdError,
    DatasetNotFoundError,
    DatasetTypeError,
    FormatterError,
    PermissionDeniedError,
    SkyButlerError,
    StorageError,
)
from skybutler.registry import CollectionType, Registry, is_glob
from skybutler.registry._search import find_first
from skybutler.transports import open_transport

if TYPE_CHECKING:
    from skybutler.butler._collections import ButlerCollections
    from skybutler.butler._logs import LogCapture
    from skybutler.butler._maintenance import VerifyReport
    from skybutler.butler._provenance import InputsLike, Invalidation, LineageNode, RunDiff
    from skybutler.datasets import DatasetIdMode
    from skybutler.datastore import ReconcileReport
    from skybutler.dimensions import DimensionRecord
    from skybutler.query import CompletenessTable, DataIdResults, DatasetResults
    from skybutler.registry import CollectionRecord, DatasetRow, RunRecord, StoredDatasetType
    from skybutler.transfer import ExportReport, FileDataset, ImportReport, IngestReport, MetadataTranslator
    from skybutler.types import CollectionsLike, DataIdLike, DatasetTypeLike, Progress, TimeLike, UriLike

__all__ = ["Butler", "DeferredDatasetHandle"]


class Butler:
    """Store and find datasets by dataset type, data ID and collection.

    Parameters
    ----------
    root
        Repository root: a directory, or a URI whose transport is installed.
    run
        RUN collection that `put` writes into (created on first use).  Implies ``writeable=True``.
    collections
        Search path for `get`, `find_dataset` and `exists`; defaults to ``[run]``.
    writeable
        Allow writes; defaults to whether ``run`` is given.
    config
        Overrides of the repository's configuration (nested mapping; see `skybutler.config`).

    Examples
    --------
    >>> butler = Butler(repo, run="u/me/run1")
    >>> ref = butler.put({"a": 1}, "meta", instrument="Cam", visit=1, detector=2)
    >>> butler.get("meta", instrument="Cam", visit=1, detector=2)
    {'a': 1}
    """

    def __init__(
        self,
        root: UriLike,
        *,
        run: str | None = None,
        collections: CollectionsLike | None = None,
        writeable: bool | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.root = root_text(root)
        transport = open_transport(self.root)
        repo_file = read_repo_file(transport, self.root)
        self.config: ButlerConfig = load_config(repo_file, config, source=f"{self.root}/{CONFIG_FILE}")
        reg = self.config.registry
        registry_url = reg.db.replace("{root}", self.root)
        self.registry = Registry.open(registry_url, schema=reg.db_schema, busy_timeout=reg.busy_timeout)
        self.universe: DimensionUniverse = self.registry.universe
        self.datastore: Datastore = open_datastore(
            self.config.datastore,
            self.root,
            repository_key=f"{registry_url}|{reg.db_schema or ''}",
            root_transport=transport,
        )
        """Where the datasets are: files, objects in memory, or a chain of these (`skybutler.datastore`)."""
        self.run = run
        self.writeable = run is not None if writeable is None else writeable
        if collections is None:
            collections = [run] if run is not None else []
        self.default_collections: list[str] = [collections] if isinstance(collections, str) else list(collections)
        """The search path used when a call gives no ``collections=``."""
        self._search_cache: dict[tuple[str, ...], list[CollectionRecord]] = {}
        self._recorded_runs: set[int] = set()  # runs whose record this butler has made or found (provenance)
        if run is not None and self.writeable:
            self._run_record(run)  # the butler's own run exists from the start, so it can be searched

    @cached_property
    def collections(self) -> ButlerCollections:
        """Collection management: register, chain, tag, certify, history (`ButlerCollections`).

        Made on first use, so a command that only reads datasets does not import the collection operations.
        """
        from skybutler.butler._collections import ButlerCollections

        return ButlerCollections(self)

    # -- repository ------------------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: UriLike,
        *,
        registry: str | None = None,
        schema: str | None = None,
        universe: DimensionUniverse | str | None = None,
        config: Mapping[str, Any] | None = None,
        datastore: str | None = None,
    ) -> str:
        """Create a new, empty repository and return its root.

        Parameters
        ----------
        root
            Directory (or URI) of the new repository; it must not hold one already.
        registry
            Database URL; default: a SQLite file in the repository.  PostgreSQL: ``postgresql://...``.
        schema
            PostgreSQL schema for this repository's tables (several repositories can share a database).
        universe
            A `DimensionUniverse`, a universe plug-in name, or a path to a universe YAML file; default:
            the default universe.
        config
            More configuration written to ``butler.yaml`` (templates, formatters, ...).
        datastore
            Root URI of the dataset files when they live elsewhere than ``root``, e.g. ``s3://bucket/prefix``
            (the registry and ``butler.yaml`` stay at ``root``); transport options go in
            ``config={"datastore": {"transport": {...}}}``.

        Raises
        ------
        ConflictError
            A repository exists there already.
        ConfigError
            The configuration is invalid.
        """
        return create_repository(
            root, registry=registry, schema=schema, universe=universe, config=config, datastore=datastore
        )

    def close(self) -> None:
        """Close the registry connection."""
        self.registry.close()

    def __enter__(self) -> Butler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Butler({self.root!r}, run={self.run!r}, collections={self.default_collections!r})"

    # -- dataset types ------------------------------------------------------------------------------------------
    def register_dataset_type(
        self,
        name: str,
        dimensions: Iterable[str],
        storage_class: str,
        *,
        is_calibration: bool = False,
        format: str | None = None,
    ) -> DatasetType:
        """Register a dataset type (a no-op when an identical one exists) and return it.

        Parameters
        ----------
        name, dimensions, storage_class
            What the datasets are: ``"src"`` with ``["instrument", "visit", "detector"]`` as ``"AstropyTable"``.
        is_calibration
            Its datasets are certified into CALIBRATION collections.
        format
            Formatter short name its datasets are written in (``"fits"``, ``"hdf5"``, ``"parquet"``, ...),
            recorded in the registry so that every butler writing to this repository uses it; it wins over
            ``datastore.formatters`` and the defaults of ``butler.yaml``.  ``None``: the configuration chooses
            (and, when the type exists, whatever format it was registered with is kept).

        Returns
        -------
        DatasetType
            The registered type, with the format it was registered with.

        Raises
        ------
        DatasetTypeError
            The name is taken by a different definition or format, the storage class is unknown, or the
            format is unknown, cannot write the storage class, or runs code when reading (pickle).
        ConfigError
            Its datasets could not be stored: no formatter, or a template that is not unique.
        """
        try:
            storage_classes.get(storage_class)
        except ConfigError:
            raise DatasetTypeError(
                f"Unknown storage class {storage_class!r} for dataset type {name!r}; known: {storage_classes.names()}."
            ) from None
        dataset_type = DatasetType(
            name, dimensions, storage_class, universe=self.universe, is_calibration=is_calibration, format=format
        )
        self.datastore.validate(dataset_type)
        return self.registry.dataset_types.register(dataset_type)[0].dataset_type

    def get_dataset_type(self, name: str) -> DatasetType:
        """Return the registered dataset type ``name``."""
        return self.registry.get_dataset_type(name)

    def remove_dataset_type(self, name: str) -> None:
        """Remove a dataset type that has no datasets (a `ConflictError` names how many remain)."""
        if not self.writeable:
            raise PermissionDeniedError("This butler is read-only; open it with writeable=True to remove a type.")
        self.registry.dataset_types.remove(name)

    def _stored(self, dataset_type: DatasetTypeLike) -> tuple[StoredDatasetType, str | None]:
        name = dataset_type if isinstance(dataset_type, str) else dataset_type.name
        parent, _, component = name.partition(".")
        stored = self.registry.dataset_types.get(parent)
        if not isinstance(dataset_type, str) and component == "" and stored.dataset_type != dataset_type:
            raise DatasetTypeError(
                f"The dataset type given, {dataset_type.describe()}, differs from the registered "
                f"{stored.dataset_type.describe()}."
            )
        if component:
            sc = storage_classes.get(stored.dataset_type.storage_class)
            if component not in sc.components:
                raise DatasetTypeError(
                    f"Storage class {sc.name!r} of {parent!r} has no component {component!r}; "
                    f"components: {sorted(sc.components) or 'none'}."
                )
        return stored, component or None

    # -- data IDs and collections ------------------------------------------------------------------------------
    def _data_id(
        self, dataset_type: DatasetType, data_id: DataIdLike | None, kwargs: Mapping[str, Any]
    ) -> DataCoordinate:
        group = dataset_type.dimensions
        if isinstance(data_id, DataCoordinate) and not kwargs:
            if data_id.group is group:
                return data_id
            if all(d in data_id for d in group.required):  # a larger data ID: keep what this type needs
                return data_id.subset(group)
        given = normalize_data_id(
            self.universe, data_id, kwargs, group=group, what=f"dataset type {dataset_type.name!r}"
        )
        if len(given.values) == len(group.required) and not given.alternates:
            minimal = given.minimal(group)
            if minimal is not None:
                return minimal
        return self.registry.resolver.complete(group, given)

    def _run_record(self, run: str | None) -> CollectionRecord:
        if not self.writeable:
            raise PermissionDeniedError(
                "This butler is read-only; open it with Butler(root, run=...) or writeable=True to write."
            )
        name = run or self.run
        if name is None:
            raise PermissionDeniedError("No run to write into: pass run= to Butler() or to this call.")
        record = self.registry.collections.find(name)
        if record is None:
            record = self.registry.collections.register(name, CollectionType.RUN)[0]
        if record.type is not CollectionType.RUN:
            raise CollectionError(f"Collection {name!r} is {record.type.name}, not a RUN; datasets are born in runs.")
        return record

    def _search_path(self, collections: CollectionsLike | None) -> tuple[list[str], list[CollectionRecord]]:
        """The names searched and the ordered non-chain collections they stand for."""
        names = self.default_collections if collections is None else _collection_names(collections)
        if not names:
            raise CollectionError(
                "No collections to search: pass collections= to this call or to Butler(), or open it with run=."
            )
        key = tuple(names)
        leaves = self._search_cache.get(key)
        if leaves is None:
            records = self.registry.collections.resolve(names)
            if any(r.type is CollectionType.CHAINED for r in records) or any(is_glob(n) for n in names):
                # chains can be redefined and globs match new collections: no cache
                return names, self.registry.collections.flatten(names)
            leaves = records
            self._search_cache[key] = leaves
        return names, leaves

    def _forget_search_paths(self) -> None:
        self._search_cache.clear()

    def _refresh(self) -> bool:
        """Drop cached collections when another process changed them (DESIGN §6: the generation counter)."""
        if self.registry.collections.refresh_if_changed():
            self._search_cache.clear()
            return True
        return False

    # -- put ------------------------------------------------------------------------------------------------------
    def put(
        self,
        obj: Any,
        dataset_type: DatasetTypeLike,
        data_id: DataIdLike | None = None,
        *,
        run: str | None = None,
        inputs: InputsLike | None = None,
        **kwargs: Any,
    ) -> DatasetRef:
        """Store ``obj`` as a new dataset and return its ref.

        The object's type is checked before anything is written; the file is written under a staging name,
        the dataset registered in one transaction, then the file moved to its final path.  ``inputs`` (refs
        or dataset IDs, which must be registered) are recorded as what it was made from (`lineage`).

        Raises
        ------
        DatasetTypeError
            The dataset type is not registered.
        DataIdError
            The data ID is incomplete, has unknown keys, or names records that do not exist.
        FormatterError
            ``obj`` is not of the dataset type's storage class.
        ConflictError
            The run already has a dataset of this type and data ID.
        PermissionDeniedError
            The butler is read-only or has no run.
        DatasetNotFoundError
            An input is not registered (nothing is written).
        """
        return self._put(dataset_type, [(obj, data_id, kwargs)], run, None, [input_ids(inputs)])[0]

    def put_many(
        self,
        items: Iterable[tuple[Any, DataIdLike] | tuple[Any, DataIdLike, InputsLike]],
        dataset_type: DatasetTypeLike,
        *,
        run: str | None = None,
        id_mode: DatasetIdMode | None = None,
        inputs: InputsLike | None = None,
    ) -> list[DatasetRef]:
        """Store many objects of one dataset type in one registry transaction.

        Either all are stored or none is (files written before a failure are removed).  ``id_mode`` makes
        dataset IDs deterministic (`DatasetIdMode`); by default they are random.  ``inputs`` are recorded
        as inputs of every dataset; an item ``(obj, data_id, inputs)`` adds inputs of its own.
        """
        shared = input_ids(inputs)
        rows: list[tuple[Any, DataIdLike | None, Mapping[str, Any]]] = []
        each: list[list[uuid.UUID]] = []
        for item in items:
            rows.append((item[0], item[1], {}))
            own = input_ids(item[2]) if len(item) > 2 else []
            each.append(list(dict.fromkeys([*shared, *own])) if own else shared)
        return self._put(dataset_type, rows, run, id_mode, each)

    def _put(
        self,
        dataset_type: DatasetTypeLike,
        items: Sequence[tuple[Any, DataIdLike | None, Mapping[str, Any]]],
        run: str | None,
        id_mode: DatasetIdMode | None,
        inputs: Sequence[list[uuid.UUID]] = (),
    ) -> list[DatasetRef]:
        run_record = self._run_record(run)
        stored, component = self._stored(dataset_type)
        if component:
            raise DatasetTypeError(
                f"Cannot put a component ({dataset_type}); put the whole {stored.dataset_type.name}."
            )
        dt = stored.dataset_type
        coords = [(obj, self._data_id(dt, data_id, kwargs)) for obj, data_id, kwargs in items]
        record = put_recorder(self.registry, run_record, inputs, self._recorded_runs)
        try:
            refs = put_objects(self.registry, self.datastore, stored, run_record, coords, id_mode, record, inputs)
        except (StorageError, FormatterError):
            raise  # the bytes failed, not a stale run: after registration, a retry would only add a conflict
        except SkyButlerError as exc:
            if isinstance(exc, DatasetNotFoundError | ConflictError) and record is not None:
                raise  # a refused input or cycle: the run is not stale
            if not self._refresh():  # the run may have been removed and re-created by another process
                raise
            run_record = self._run_record(run)
            record = put_recorder(self.registry, run_record, inputs, self._recorded_runs)
            refs = put_objects(self.registry, self.datastore, stored, run_record, coords, id_mode, record, inputs)
        self._recorded_runs.add(run_record.id)
        return refs

    # -- find / get --------------------------------------------------------------------------------------------
    def _find_row(
        self,
        dataset_type: DatasetTypeLike | DatasetRef,
        data_id: DataIdLike | None,
        collections: CollectionsLike | None,
        kwargs: Mapping[str, Any],
        at: TimeLike | None = None,
        as_of: TimeLike | None = None,
    ) -> tuple[StoredDatasetType, str | None, DataCoordinate, DatasetRow]:
        if isinstance(dataset_type, DatasetRef):
            ref = dataset_type
            stored, component = self._stored(ref.dataset_type.name)
            rows = self.registry.datasets.by_ids([stored], [ref.id])
            if not rows:
                raise DatasetNotFoundError(
                    f"Dataset {ref.id} ({ref.dataset_type.name} {ref.data_id}) is not in the registry."
                )
            return stored, component, ref.data_id, rows[0]
        stored, component = self._stored(dataset_type)
        at_ns = None if at is None else to_tai_ns(at)
        if stored.dataset_type.is_calibration:
            data_id, kwargs, observed = observation_time(self.registry, stored.dataset_type, data_id, kwargs, at=at_ns)
            at_ns = observed if at_ns is None else at_ns
        coord = self._data_id(stored.dataset_type, data_id, kwargs)
        names, leaves = self._search_path(collections)
        as_of_ns = None if as_of is None else check_as_of(as_of)
        row = find_first(
            self.registry.datasets, self.registry.calibrations, stored, leaves, coord.required_values,
            at=at_ns, as_of=as_of_ns,
        )  # fmt: skip
        if row is None and self._refresh():  # collections changed in another process: look again
            names, leaves = self._search_path(collections)
            row = find_first(self.registry.datasets, self.registry.calibrations, stored, leaves,
                             coord.required_values, at=at_ns, as_of=as_of_ns)  # fmt: skip
        if row is None:
            miss = None
            if stored.dataset_type.is_calibration and at_ns is not None:
                miss = calibration_miss(self.registry, stored, coord, leaves, at_ns, as_of_ns)
            raise miss or self.registry.explain_missing(stored, coord, names)
        return stored, component, coord, row

    def find_dataset(
        self,
        dataset_type: DatasetTypeLike,
        data_id: DataIdLike | None = None,
        *,
        collections: CollectionsLike | None = None,
        at: TimeLike | None = None,
        as_of: TimeLike | None = None,
        **kwargs: Any,
    ) -> DatasetRef | None:
        """Return the ref of the first matching dataset along the search path, or ``None``."""
        try:
            stored, _, coord, row = self._find_row(dataset_type, data_id, collections, kwargs, at, as_of)
        except DatasetNotFoundError:
            return None
        return DatasetRef(row.id, stored.dataset_type, coord, self.registry.collections.by_id(row.run_id).name)

    def exists(
        self,
        dataset_type: DatasetTypeLike | DatasetRef,
        data_id: DataIdLike | None = None,
        *,
        collections: CollectionsLike | None = None,
        at: TimeLike | None = None,
        as_of: TimeLike | None = None,
        **kwargs: Any,
    ) -> bool:
        """Return whether the registry has a matching dataset (storage is not checked: the registry is the truth)."""
        try:
            self._find_row(dataset_type, data_id, collections, kwargs, at, as_of)
        except DatasetNotFoundError:
            return False
        return True

    def get(
        self,
        dataset_type: DatasetTypeLike | DatasetRef,
        data_id: DataIdLike | None = None,
        *,
        collections: CollectionsLike | None = None,
        parameters: Mapping[str, Any] | None = None,
        storage_class: str | None = None,
        at: TimeLike | None = None,
        as_of: TimeLike | None = None,
        **kwargs: Any,
    ) -> Any:
        """Read a dataset, found by ref or by dataset type + data ID along the collections' search path.

        In CALIBRATION collections the dataset valid at ``at`` is taken (or, when the data ID names an exposure
        or visit, valid at the middle of its timespan), as recorded at ``as_of`` (default: now) -- so a
        lookup with the ``as_of`` of an old run gives what that run got, even after later corrections.

        Raises
        ------
        DatasetNotFoundError
            Before any file I/O: no such dataset in the collections searched (named), and where else it is.
        DatasetTypeError, DataIdError, CollectionError
            The dataset type, data ID or a collection is wrong.
        ArtifactNotFoundError
            The dataset is registered but its file is missing.
        """
        stored, component, _, row = self._find_row(dataset_type, data_id, collections, kwargs, at, as_of)
        if not row.artifacts:
            raise DatasetNotFoundError(f"Dataset {row.id} is registered but has no stored file.")
        sc = storage_classes.get(storage_class or stored.dataset_type.storage_class)
        return self.datastore.read_first(
            row.artifacts,
            storage_class=sc,
            component=component,
            parameters=parameters,
            dataset_type=stored.dataset_type.name,
        )

    def get_many(self, refs: Sequence[DatasetRef]) -> list[Any]:
        """Read many datasets by ref, with one registry query per dataset type."""
        by_type: dict[str, list[DatasetRef]] = {}
        for ref in refs:
            by_type.setdefault(ref.dataset_type.name, []).append(ref)
        artifacts = {}
        for name, group in by_type.items():
            stored, _ = self._stored(name)
            for row in self.registry.datasets.by_ids([stored], [r.id for r in group]):
                artifacts[row.id] = (row.artifacts, stored.dataset_type.storage_class, name)
        out = []
        for ref in refs:
            found = artifacts.get(ref.id)
            if found is None or not found[0]:
                raise DatasetNotFoundError(
                    f"Dataset {ref.id} ({ref.dataset_type.name} {ref.data_id}) is not in the registry."
                )
            out.append(
                self.datastore.read_first(found[0], storage_class=storage_classes.get(found[1]), dataset_type=found[2])
            )
        return out

    def get_deferred(
        self,
        dataset_type: DatasetTypeLike | DatasetRef,
        data_id: DataIdLike | None = None,
        *,
        collections: CollectionsLike | None = None,
        parameters: Mapping[str, Any] | None = None,
        at: TimeLike | None = None,
        as_of: TimeLike | None = None,
        **kwargs: Any,
    ) -> DeferredDatasetHandle:
        """Find a dataset now (failing fast if it is missing) and return a handle that reads it on demand."""
        if isinstance(dataset_type, DatasetRef):
            ref = dataset_type
            self._find_row(dataset_type, None, None, {})
        else:
            stored, _, coord, row = self._find_row(dataset_type, data_id, collections, kwargs, at, as_of)
            ref = DatasetRef(row.id, stored.dataset_type, coord, self.registry.collections.by_id(row.run_id).name)
        return DeferredDatasetHandle(self, ref, parameters)

    def get_uri(
        self,
        dataset_type: DatasetTypeLike | DatasetRef,
        data_id: DataIdLike | None = None,
        *,
        collections: CollectionsLike | None = None,
        at: TimeLike | None = None,
        as_of: TimeLike | None = None,
        **kwargs: Any,
    ) -> str:
        """Return the URI of a dataset's file (in a chained datastore: of the copy `get` reads first)."""
        _, _, _, row = self._find_row(dataset_type, data_id, collections, kwargs, at, as_of)
        if not row.artifacts:
            raise DatasetNotFoundError(f"Dataset {row.id} is registered but has no stored file.")
        return self.datastore.uri_of(self.datastore.ordered(row.artifacts)[0])

    # -- remove / reconcile ----------------------------------------------------------------------------------
    def remove(self, refs: Iterable[DatasetRef], *, even_if_used: bool = False) -> int:
        """Remove datasets from the registry and delete their files; return how many were removed.

        The registry rows go first, in one transaction, with the file paths put in the trash; then the
        files are deleted and the trash emptied.  A crash in between leaves trash that `reconcile` empties.
        A dataset that another (kept) dataset records as an input is refused (`ConflictError`) unless
        ``even_if_used``: the lineage records then keep its ID and dataset type.
        """
        if not self.writeable:
            raise PermissionDeniedError("This butler is read-only; open it with writeable=True to remove datasets.")
        ids = [r.id for r in refs]
        with self.registry.db.transaction():
            if not even_if_used:
                refuse_used(self.registry, ids)
            deleted, entries = self.registry.datasets.remove(ids)
        from skybutler.butler._maintenance import remove_artifacts  # upkeep code only when removing (start-up, issue 8)

        remove_artifacts(self.registry, self.datastore, entries)
        return deleted

    # -- provenance (logic in _provenance, _run_context and the registry) --------------------------------------
    @contextmanager
    def run_context(self, run: str, *, config: Mapping[str, Any] | None = None) -> Iterator[Butler]:
        """Write into ``run`` within the block, recording who ran what, where, when, with what configuration.

        The run's record (software environment, Python, host, user, command line, working folder, start,
        ``config``) is made on entry and its end time set on exit.  A read-only butler is writeable for the
        run within the block; afterwards its run and writeability are restored.  Yields this butler.
        """
        from skybutler.butler._run_context import finish_run, start_run

        saved = (self.run, self.writeable, self.default_collections)
        self.run, self.writeable = run, True
        if saved[0] is None and not saved[2]:
            self.default_collections = [run]
        try:
            record = self._run_record(run)
            start_run(self.registry, record, config)
            self._recorded_runs.add(record.id)
            try:
                yield self
            finally:  # a block that failed ended too
                finish_run(self.registry, record)
        finally:
            self.run, self.writeable, self.default_collections = saved

    def run_info(self, run: str) -> RunRecord:
        """Who made ``run``, where, when and with what: environments (every distribution's version), config.

        Raises
        ------
        CollectionError
            No such collection.
        DatasetNotFoundError
            The run has no record (written before provenance was recorded, or never written).
        """
        from dataclasses import replace

        from skybutler.butler._provenance import task_configs

        record = self.registry.collections.get(run)
        found = self.registry.runs.get(record.id, record.name)
        if found is None:
            raise DatasetNotFoundError(f"Run {run!r} has no run record: it was never written, or written by a "
                                       "skybutler that did not record runs.")  # fmt: skip
        return replace(found, task_configs=task_configs(self.registry, record))

    def put_config(self, label: str, config: Mapping[str, Any], *, run: str | None = None) -> DatasetRef:
        """Store a task's configuration in the run as the dataset ``<label>_config`` (`run_info` lists it).

        The dataset type (no dimensions, ``StructuredDataDict``) is registered on first use.  A run holds one
        configuration per label: storing another is a `ConflictError`.
        """
        name = f"{label}_config"
        self.register_dataset_type(name, [], "StructuredDataDict")
        return self.put(dict(config), name, {}, run=run)

    def diff_runs(self, a: str, b: str) -> RunDiff:
        """What differs between two runs: distribution versions, configuration values, Python version."""
        from skybutler.butler._provenance import diff_records

        return diff_records(self.run_info(a), self.run_info(b))

    def lineage(
        self, ref: DatasetRef | Iterable[DatasetRef], *, direction: str = "up", depth: int | None = None
    ) -> list[LineageNode]:
        """The datasets ``ref`` was made from (``direction="up"``) or that used it (``"down"``), nearest first.

        ``depth`` limits the edges followed (None: to the end).  Each `LineageNode` has the shortest
        distance; a dataset removed since keeps its ID and type, with ``ref=None``.
        """
        from skybutler.butler._provenance import lineage

        if direction not in ("up", "down"):
            raise DataIdError(f"direction={direction!r}: use 'up' (inputs) or 'down' (what used it).")
        start = [ref.id] if isinstance(ref, DatasetRef) else [r.id for r in ref]
        return lineage(self.registry, start, direction, depth)  # type: ignore[arg-type]

    def impact(self, ref: DatasetRef | Iterable[DatasetRef], *, depth: int | None = None) -> list[LineageNode]:
        """Every dataset that used ``ref``, transitively (`lineage` downwards)."""
        return self.lineage(ref, direction="down", depth=depth)

    def invalidated(
        self,
        collections: CollectionsLike | None = None,
        *,
        as_of: TimeLike | None = None,
        dataset_types: Iterable[str] | None = None,
    ) -> list[Invalidation]:
        """Outputs that used a calibration which is no longer the one valid at their observation time.

        Checked against the CALIBRATION collections of ``collections`` as known now, or as known at
        ``as_of`` (then only uses recorded by that time count).  Each `Invalidation` names the output, the
        calibration used and the one valid instead (None when it was decertified).
        """
        from skybutler.butler._provenance import invalidated
        from skybutler.registry._calibrations import tai_now

        _, leaves = self._search_path(collections)
        as_of_ns = tai_now() if as_of is None else check_as_of(as_of)
        return invalidated(self.registry, leaves, as_of_ns, dataset_types)

    def capture_logs(
        self,
        dataset_type: str,
        data_id: DataIdLike | None = None,
        *,
        run: str | None = None,
        level: int | str = "INFO",
        **kwargs: Any,
    ) -> LogCapture:
        """Collect the log records of a block (``level`` and above) and store them as a dataset when it ends.

        Use it as ``with butler.capture_logs("isr_log", instrument=..., ...):``; the dataset type is
        registered (storage class ``LogRecords``, JSON lines) if needed, with the data ID's dimensions.
        Read the log back with `get`; ``parameters={"level": "WARNING"}`` keeps the warnings and worse.
        """
        from skybutler.butler._logs import LogCapture

        return LogCapture(self, dataset_type, data_id, run, kwargs, level)

    def reconcile(self, *, grace_seconds: float = 600.0, remove_unknown: bool = False) -> ReconcileReport:
        """Repair what crashes left behind: promote or delete staging files, empty the trash.

        Run it when no other process is writing the same data IDs: staging files younger than
        ``grace_seconds`` are left alone since their writer may still be running.
        """
        if not self.writeable:
            raise PermissionDeniedError("reconcile changes the repository; open it with writeable=True.")
        from skybutler.butler._maintenance import reconcile

        return reconcile(self.registry, self.datastore, grace_seconds=grace_seconds, remove_unknown=remove_unknown)

    def verify(
        self,
        refs: Iterable[DatasetRef] | None = None,
        *,
        collections: CollectionsLike | None = None,
        progress: Progress | None = None,
    ) -> VerifyReport:
        """Re-read artifacts and compare their sizes and checksums with the registry's records.

        Checks ``refs``, or every dataset in ``collections``, or (with neither) every dataset in the repository,
        which also lists unknown files.  Read-only: it repairs nothing (see `reconcile`).
        """
        ids = None
        if refs is not None:
            ids = [r.id for r in refs]
        elif collections is not None:
            ids = [r.id for r in self.query_datasets("*", collections=collections, find_first=False)]
        from skybutler.butler._maintenance import verify

        return verify(self.registry, self.datastore, ids, progress=progress)

    # -- queries ---------------------------------------------------------------------------------------------
    def query_data_ids(
        self,
        dimensions: Iterable[str],
        *,
        where: str = "",
        bind: Mapping[str, Any] | None = None,
        data_id: DataIdLike | None = None,
        datasets: str | DatasetType | Iterable[str | DatasetType] | None = None,
        collections: CollectionsLike | None = None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
        **kwargs: Any,
    ) -> DataIdResults:
        """Data IDs of ``dimensions`` that satisfy ``where`` and the data ID (and have ``datasets``, if given).

        Examples
        --------
        >>> [dict(d) for d in butler.query_data_ids(["visit"], where="visit < 2")]  # doctest: +SKIP
        """
        from skybutler.query import query_data_ids
        from skybutler.query._queries import dataset_type_names

        stored = []
        if datasets is not None:
            stored = [self.registry.dataset_types.get(n) for n in dataset_type_names(datasets)]
        leaves, note = self._query_path(collections) if stored else ([], None)
        results = query_data_ids(self.registry, dimensions, where=where, bind=bind, data_id=data_id, datasets=stored,
                                 leaves=leaves, order_by=order_by, limit=limit, kwargs=kwargs)  # fmt: skip
        results.note = note
        return results

    def query_datasets(
        self,
        dataset_types: str | DatasetType | Iterable[str | DatasetType],
        *,
        collections: CollectionsLike | None = None,
        where: str = "",
        bind: Mapping[str, Any] | None = None,
        data_id: DataIdLike | None = None,
        find_first: bool = True,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
        at: TimeLike | None = None,
        **kwargs: Any,
    ) -> DatasetResults:
        """Datasets of the given types (names, globs or ``"*"``) in the collections, satisfying the constraints.

        An empty result is a value, not an error: ``results.explain_no_results()`` says why it is empty.
        """
        from skybutler.query import query_datasets

        leaves, note = self._query_path(collections)
        at_ns = None if at is None else to_tai_ns(at)
        results = query_datasets(
            self.registry, dataset_types, leaves, where=where, bind=bind, data_id=data_id,
            find_first=find_first and note is None, order_by=order_by, limit=limit, at=at_ns, kwargs=kwargs,
        )  # fmt: skip
        results.note = note
        return results

    def _query_path(self, collections: CollectionsLike | None) -> tuple[list[CollectionRecord], str | None]:
        """What a query searches, and a note when the caller named nothing (then every RUN, not find-first).

        As the command line does: a query with no collections and no defaults searches every collection the
        caller may read.  Every dataset is in exactly one RUN, so every RUN is every dataset, each once.
        """
        if collections is not None or self.default_collections:
            return self._search_path(collections)[1], None
        names = self.query_collections(types=[CollectionType.RUN])
        note = "no collections given: every RUN collection was searched, not find-first"
        return (self.registry.collections.resolve(names) if names else []), note

    def query_dimension_records(
        self,
        element: str,
        *,
        where: str = "",
        bind: Mapping[str, Any] | None = None,
        data_id: DataIdLike | None = None,
        order_by: Sequence[str] | None = None,
        limit: int | None = None,
        **kwargs: Any,
    ) -> list[DimensionRecord]:
        """Records of ``element`` satisfying the constraints."""
        from skybutler.query import query_dimension_records

        return query_dimension_records(self.registry, element, where=where, bind=bind, data_id=data_id,
                                       order_by=order_by, limit=limit, kwargs=kwargs)  # fmt: skip

    def missing(
        self,
        dataset_types: str | Iterable[str],
        dimensions: Iterable[str],
        *,
        collections: CollectionsLike | None = None,
        where: str = "",
        bind: Mapping[str, Any] | None = None,
        data_id: DataIdLike | None = None,
        **kwargs: Any,
    ) -> CompletenessTable:
        """The completeness matrix: for each data ID of ``dimensions``, how many datasets of each type exist.

        Examples
        --------
        >>> table = butler.missing(["calexp", "src"], ["visit", "detector"], where="band = 'r'")  # doctest: +SKIP
        >>> [row.data_id for row in table.incomplete()]  # doctest: +SKIP
        """
        from skybutler.query import completeness

        names = [dataset_types] if isinstance(dataset_types, str) else list(dataset_types)
        leaves = self._search_path(collections)[1]
        return completeness(self.registry, names, dimensions, leaves, where=where, bind=bind, data_id=data_id,
                            kwargs=kwargs)  # fmt: skip

    def query_collections(
        self,
        pattern: str | Iterable[str] = "*",
        *,
        types: CollectionType | str | Iterable[CollectionType | str] | None = None,
        flatten_chains: bool = False,
    ) -> list[str]:
        """Names of the collections matching glob pattern(s) and types, sorted (``flatten_chains`` expands chains)."""
        return [r.name for r in self.collections.query(pattern, types=types, flatten_chains=flatten_chains)]

    def query_dataset_types(self, pattern: str | Iterable[str] = "*") -> list[DatasetType]:
        """Registered dataset types whose name matches glob pattern(s), sorted by name."""
        import fnmatch

        from skybutler.query._queries import dataset_type_names

        patterns = dataset_type_names(pattern)
        found = [s.dataset_type for s in self.registry.dataset_types.all()]
        return sorted(
            (dt for dt in found if any(fnmatch.fnmatchcase(dt.name, p) for p in patterns)), key=lambda dt: dt.name
        )

    def retrieve_artifacts(
        self, refs: Iterable[DatasetRef], destination: UriLike, *, overwrite: bool = False
    ) -> list[str]:
        """Copy the files of datasets into a local directory, at their paths in the datastore; return the paths.

        Raises
        ------
        ConflictError
            A file exists there already and ``overwrite`` is false (nothing was copied).
        """
        from pathlib import Path

        from skybutler.butler._maintenance import retrieve

        refs = list(refs)
        found = self.registry.datasets.all_artifacts([r.id for r in refs])
        lacking = [r for r in refs if r.id not in found]
        if lacking:
            raise DatasetNotFoundError(f"{len(lacking)} dataset(s) have no stored file, e.g. {lacking[0]!r}.")
        paths = retrieve(self.datastore, [found[r.id] for r in refs], Path(str(destination)), overwrite=overwrite)
        return [str(p) for p in paths]

    # -- conveniences ------------------------------------------------------------------------------------------
    def insert_dimension_records(
        self, element: str, records: Iterable[Mapping[str, Any]], *, skip_existing: bool = False
    ) -> int:
        """Shortcut for ``butler.registry.insert_dimension_records``."""
        return self.registry.insert_dimension_records(element, records, skip_existing=skip_existing)

    def query_datasets_in_run(self, dataset_type: DatasetTypeLike, run: str) -> list[DatasetRef]:
        """Every dataset of a type born in a run (the query system adds general searches)."""
        stored, _ = self._stored(dataset_type)
        record = self.registry.collections.get(run)
        dt = stored.dataset_type
        return [
            DatasetRef(row.id, dt, DataCoordinate.from_required(dt.dimensions, row.values), run)
            for row in self.registry.datasets.in_run(stored, record.id)
        ]

    # -- ingest and transfer (logic in skybutler.transfer) ------------------------------------------------------
    def ingest(
        self,
        *datasets: FileDataset,
        transfer: str = "auto",
        run: str | None = None,
        skip_existing: bool = False,
        id_mode: DatasetIdMode | str = "random",
        batch_size: int = 10_000,
        progress: Progress | None = None,
        checksum: bool | None = None,
    ) -> list[DatasetRef]:
        """Register existing files as datasets, bringing them in by ``transfer`` (see docs/ingest.md).

        Modes: ``copy``, ``move`` (the source is deleted after registration), ``link`` (hard link, else
        symbolic), ``hardlink``, ``symlink``, ``relsymlink``, ``direct`` (registered where it is, by URI; never
        deleted by `remove`) and ``auto`` (in place when inside the datastore, a hard link on the same file
        system, else a copy).  Each batch of ``batch_size`` files is one registry transaction; files are
        copied concurrently.  ``id_mode="deterministic"`` with ``skip_existing=True`` makes re-runs idempotent.
        Files the datastore takes in get the repository's checksum; ``direct`` files, which it neither wrote
        nor owns, only their size unless ``checksum=True`` (each is then read once); ``checksum=False``
        records sizes only.

        Returns the refs of the given files' datasets: those ingested, then those skipped as existing.

        Raises
        ------
        ArtifactNotFoundError
            A file does not exist (nothing is ingested).
        DatasetTypeError, DataIdError, CollectionError
            A dataset type, data ID or run is wrong (nothing is ingested).
        ConflictError
            A dataset exists already and ``skip_existing`` is false.
        PermissionDeniedError
            The butler is read-only, or no run is given for datasets without refs.
        """
        from skybutler.transfer import ingest_files

        self._writeable_for("ingest")
        report = ingest_files(
            self.registry, self.datastore.files("ingest files"), datasets, transfer=transfer, run=run or self.run,
            skip_existing=skip_existing, id_mode=id_mode, batch_size=batch_size, progress=progress,
            checksum=checksum,
        )  # fmt: skip
        return report.refs

    def ingest_raws(
        self,
        paths: Iterable[UriLike],
        *,
        instrument: str | None = None,
        translator: MetadataTranslator | type[MetadataTranslator] | str | None = None,
        run: str | None = None,
        transfer: str = "auto",
        skip_existing: bool = True,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Ingest raw FITS files: each header is translated into records (synced) and a ``raw`` dataset.

        The metadata translator (a plug-in; default ``generic``, for standard keywords) maps each primary
        header to instrument, exposure, visit, detector, day_obs and physical_filter records and the exposure
        timespan.  New records are inserted and existing ones verified, in the same transaction as the
        datasets; a file that cannot be translated or contradicts the registry is reported in the result's
        ``failures`` and nothing of it is ingested.  IDs are deterministic and existing raws are skipped, so
        re-running is safe.  ``run`` defaults to ``<instrument>/raw/all``.

        Raises
        ------
        DatasetTypeError
            ``raw`` is registered with other dimensions or storage class.
        ConfigError
            The translator or transfer mode is unknown.
        PermissionDeniedError
            The butler is read-only.
        """
        from skybutler.transfer import ingest_raws

        self._writeable_for("ingest raws")
        return ingest_raws(
            self.registry, self.datastore.files("ingest raws"), paths, instrument=instrument, translator=translator,
            run=run, transfer=transfer, skip_existing=skip_existing, progress=progress,
        )  # fmt: skip

    def transfer_from(
        self,
        source: Butler,
        refs: Iterable[DatasetRef],
        *,
        transfer: str = "copy",
        register_dataset_types: bool = True,
        transfer_dimensions: bool = True,
        skip_existing: bool = True,
        progress: Progress | None = None,
        collections: CollectionsLike | None = None,
    ) -> list[DatasetRef]:
        """Copy datasets (same UUIDs) from another repository, with their dataset types, runs and records.

        Works across back-ends (SQLite/local → PostgreSQL/remote storage); datasets already here (by UUID)
        are skipped.  ``transfer`` is an ingest mode other than ``move`` (``direct`` registers the source's
        files where they are).  ``collections`` (names or globs of the source's collections; a chain stands
        for its children) carries the datasets' TAGGED and CALIBRATION associations there -- tags, and
        current certifications with their validity ranges -- creating the collections when missing; a
        re-run adds nothing twice.  Chains themselves are not re-created (export/import does that).

        Returns the refs now in this repository: transferred, then skipped.

        Raises
        ------
        DatasetNotFoundError
            A ref is not in ``source``.
        DatasetTypeError
            A dataset type is missing here (with ``register_dataset_types=False``) or defined differently.
        ConflictError
            A dimension record differs between the repositories, a dataset exists and ``skip_existing``
            is false, or an association clashes with this repository's (checked before anything is written).
        CollectionError
            A collection named in ``collections`` is not in ``source``.
        """
        from skybutler.transfer import transfer_datasets

        self._writeable_for("transfer datasets in")
        return transfer_datasets(
            (self.registry, self.datastore.files("transfer datasets in")),
            (source.registry, source.datastore.files("transfer datasets out")), refs, transfer=transfer,
            register_dataset_types=register_dataset_types, transfer_dimensions=transfer_dimensions,
            skip_existing=skip_existing, progress=progress, collections=collections,
        )  # fmt: skip

    def _writeable_for(self, what: str) -> None:
        if not self.writeable:
            raise PermissionDeniedError(
                f"This butler is read-only; open it with Butler(root, run=...) or writeable=True to {what}."
            )

    # -- export / import (skybutler.transfer) -------------------------------------------------------------------
    def export(
        self,
        path: UriLike,
        *,
        refs: Iterable[DatasetRef] | None = None,
        collections: CollectionsLike | None = None,
        dataset_types: str | Iterable[str] | None = None,
        where: str = "",
        directory: UriLike | None = None,
        transfer: str | None = None,
        include_dimensions: bool = True,
        progress: Progress | None = None,
    ) -> ExportReport:
        """Write datasets, their dimension records and collections to a YAML file the reference butler reads too.

        ``refs`` picks datasets; ``collections`` (globs; chains bring their children) with optional
        ``dataset_types`` and ``where`` picks every dataset in them, and exports the collections with their
        tags and certifications; with neither, the whole repository.  A ``.zip`` path writes an archive with
        the document, the files and an index; ``directory`` copies (``transfer``: copy, link, hardlink,
        symlink, relsymlink) the files there.  See docs/import-export.md.
        """
        from skybutler.transfer import export_datasets

        return export_datasets(self, path, refs=refs, collections=collections, dataset_types=dataset_types,
                               where=where, directory=directory, transfer=transfer,
                               include_dimensions=include_dimensions, progress=progress)  # fmt: skip

    def import_(
        self,
        path: UriLike,
        *,
        directory: UriLike | None = None,
        transfer: str | None = None,
        skip_existing: bool = False,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import an export file (ours, or the reference butler's for its universe versions 0-8), all or nothing.

        Without ``directory`` (and for a plain YAML path) only the registry is filled: files already at the
        exported paths in this datastore are recorded, others leave their datasets without a file.  With
        ``directory``, or from a ``.zip`` archive, the files are brought in (``transfer``: auto = copy, move,
        link, hardlink, symlink, relsymlink).

        Raises
        ------
        ExportFormatError
            The file is malformed; the message gives the place (``data[3].records[0].id``) and line.
        ConflictError
            A dataset ID exists with other contents, or exists at all without ``skip_existing``.
        """
        from skybutler.transfer import import_export

        return import_export(self, path, directory=directory, transfer=transfer, skip_existing=skip_existing,
                             progress=progress)  # fmt: skip


def _collection_names(value: Any) -> list[str]:
    """A collection name or glob, or several, as a list; anything else (a ``re.Pattern``, a number) is refused.

    A regular expression, as the reference butler takes, was not iterable and escaped as a bare ``TypeError``.
    """
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, Iterable) else [value]
    for item in items:
        if not isinstance(item, str):
            raise CollectionError(
                f"Collections are given by name or glob pattern ('proc/*', 'u/?e/*', '[ab]*'), not {item!r} "
                f"({type(item).__name__}); regular expressions are not supported."
            )
    return items
