"""`DirectButler`: the `Butler` on a repository's own database and storage.  Thin: it wires them and delegates."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from skybutler.butler._calibration_time import calibration_miss, check_as_of, observation_time
from skybutler.butler._deferred import DeferredDatasetHandle
from skybutler.butler._direct_provenance import DirectProvenance
from skybutler.butler._direct_transfer import DirectTransfers
from skybutler.butler._interface import Butler
from skybutler.butler._repository import read_repo_file, root_text
from skybutler.butler._run_context import run_recorder
from skybutler.butler._writes import put_objects
from skybutler.config import CONFIG_FILE, ButlerConfig, load_config
from skybutler.datasets import DatasetRef, DatasetType, storage_classes
from skybutler.datastore import Datastore, open_datastore
from skybutler.dimensions import DataCoordinate, DimensionUniverse, to_tai_ns
from skybutler.errors import (
    CollectionError,
    ConfigError,
    ConflictError,
    DatasetNotFoundError,
    DatasetTypeError,
    FormatterError,
    PermissionDeniedError,
    SkyButlerError,
    StorageError,
)
from skybutler.registry import CollectionType, Registry
from skybutler.transports import open_transport

if TYPE_CHECKING:
    from skybutler.butler._collections import DirectButlerCollections
    from skybutler.butler._maintenance import VerifyReport
    from skybutler.butler._provenance import InputsLike
    from skybutler.datasets import DatasetIdMode
    from skybutler.datastore import ReconcileReport
    from skybutler.dimensions import DimensionRecord
    from skybutler.query import CompletenessTable, DataIdResults, DatasetResults
    from skybutler.registry import CollectionRecord, DatasetRow, StoredDatasetType
    from skybutler.types import CollectionsLike, DataIdLike, DatasetTypeLike, Progress, TimeLike, UriLike
    from skybutler.workers import Manifest, MergeHook, MergeReport, TaskRecord

__all__ = ["DirectButler"]


class DirectButler(DirectTransfers, DirectProvenance, Butler):
    """The butler that works on the repository's database and storage itself (`Butler` documents every method).

    ``Butler(root, ...)`` returns one for any root that is not a skybutler server.  It holds the
    `Registry` (``registry``), the `Datastore` (``datastore``) and the validated configuration (``config``),
    which code below the butler layer takes directly; other implementations have none of these.
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
        self._recorded_runs: set[int] = set()  # runs whose record this butler has made or found (provenance)
        if run is not None and self.writeable:
            self._run_record(run)  # the butler's own run exists from the start, so it can be searched

    @cached_property
    def collections(self) -> DirectButlerCollections:
        # made on first use, so a command that only reads datasets does not import the collection operations
        from skybutler.butler._collections import DirectButlerCollections

        return DirectButlerCollections(self)

    def close(self) -> None:
        self.registry.close()

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
        return self.registry.get_dataset_type(name)

    def remove_dataset_type(self, name: str) -> None:
        if not self.writeable:
            raise PermissionDeniedError("This butler is read-only; open it with writeable=True to remove a type.")
        self.registry.dataset_types.remove(name)

    # -- runs and search paths -----------------------------------------------------------------------------
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

    def _names(self, collections: CollectionsLike | None) -> list[str]:
        """The collection names a call searches: its own, else the butler's defaults (never none)."""
        names = self.default_collections if collections is None else _collection_names(collections)
        if not names:
            raise CollectionError(
                "No collections to search: pass collections= to this call or to Butler(), or open it with run=."
            )
        return names

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
        if inputs is None:  # the plain put
            return self._put(dataset_type, [(obj, data_id, kwargs)], run, None)[0]
        from skybutler.butler._provenance import input_ids

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
        from skybutler.butler._provenance import input_ids

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
        stored, component = self.registry.dataset_types.resolve(dataset_type)
        if component:
            raise DatasetTypeError(
                f"Cannot put a component ({dataset_type}); put the whole {stored.dataset_type.name}."
            )
        dt = stored.dataset_type
        resolve = self.registry.resolve_data_id
        coords = [(obj, resolve(dt, data_id, kwargs)) for obj, data_id, kwargs in items]
        record = run_recorder(self.registry, run_record, self._recorded_runs)
        try:
            refs = put_objects(self.registry, self.datastore, stored, run_record, coords, id_mode, record, inputs)
        except (StorageError, FormatterError):
            raise  # the bytes failed, not a stale run: after registration, a retry would only add a conflict
        except SkyButlerError as exc:
            if isinstance(exc, DatasetNotFoundError | ConflictError) and any(inputs):
                raise  # a refused input or cycle: the run is not stale
            if not self.registry.collections.refresh_if_changed():  # the run may have been re-created elsewhere
                raise
            run_record = self._run_record(run)
            record = run_recorder(self.registry, run_record, self._recorded_runs)
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
            stored, component = self.registry.dataset_types.resolve(ref.dataset_type.name)
            found = self.registry.datasets.by_id(stored, ref.id)
            if found is None:
                raise DatasetNotFoundError(
                    f"Dataset {ref.id} ({ref.dataset_type.name} {ref.data_id}) is not in the registry."
                )
            return stored, component, ref.data_id, found
        stored, component = self.registry.dataset_types.resolve(dataset_type)
        at_ns = None if at is None else to_tai_ns(at)
        if stored.dataset_type.is_calibration:
            data_id, kwargs, observed = observation_time(self.registry, stored.dataset_type, data_id, kwargs, at=at_ns)
            at_ns = observed if at_ns is None else at_ns
        coord = self.registry.resolve_data_id(stored.dataset_type, data_id, kwargs)
        names = self.default_collections if collections is None else _collection_names(collections)
        if not names:  # `_names`, inlined on the hot path of every get, find and exists
            names = self._names(names)
        as_of_ns = None if as_of is None else check_as_of(as_of)
        row, leaves = self.registry.find_dataset(stored, names, coord.required_values, at=at_ns, as_of=as_of_ns)
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
        by_type: dict[str, list[DatasetRef]] = {}
        for ref in refs:
            by_type.setdefault(ref.dataset_type.name, []).append(ref)
        artifacts = {}
        for name, group in by_type.items():
            stored, _ = self.registry.dataset_types.resolve(name)
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
        _, _, _, row = self._find_row(dataset_type, data_id, collections, kwargs, at, as_of)
        if not row.artifacts:
            raise DatasetNotFoundError(f"Dataset {row.id} is registered but has no stored file.")
        return self.datastore.uri_of(self.datastore.ordered(row.artifacts)[0])

    # -- remove / reconcile ----------------------------------------------------------------------------------
    def remove(self, refs: Iterable[DatasetRef], *, even_if_used: bool = False) -> int:
        if not self.writeable:
            raise PermissionDeniedError("This butler is read-only; open it with writeable=True to remove datasets.")
        ids = [r.id for r in refs]
        with self.registry.db.transaction():
            if not even_if_used:
                from skybutler.butler._provenance import refuse_used

                refuse_used(self.registry, ids)
            deleted, entries = self.registry.datasets.remove(ids)
        from skybutler.butler._maintenance import remove_artifacts  # upkeep code only when removing (start-up, issue 8)

        remove_artifacts(self.registry, self.datastore, entries)
        return deleted

    def reconcile(self, *, grace_seconds: float = 600.0, remove_unknown: bool = False) -> ReconcileReport:
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
        ids = None
        if refs is not None:
            ids = [r.id for r in refs]
        elif collections is not None:
            ids = [r.id for r in self.query_datasets("*", collections=collections, find_first=False)]
        from skybutler.butler._maintenance import verify

        return verify(self.registry, self.datastore, ids, progress=progress)

    # -- scale-out --------------------------------------------------------------------------------------------
    def plan_work(
        self,
        dataset_type: str,
        where: str = "",
        *,
        outputs: Mapping[str, Iterable[str] | DatasetType],
        run: str,
        collections: CollectionsLike | None = None,
        inputs: Iterable[str] = (),
        bind: Mapping[str, Any] | None = None,
        expires_in: float | None = None,
    ) -> Manifest:
        from skybutler.datastore import DEFAULT_EXPIRY
        from skybutler.workers._plan import plan_work

        return plan_work(self, dataset_type, where, outputs=outputs, run=run, collections=collections,
                         inputs=inputs, bind=bind, expires_in=expires_in or DEFAULT_EXPIRY)  # fmt: skip

    def merge(
        self,
        manifest: Manifest | UriLike,
        results: Iterable[TaskRecord | Mapping[str, Any]] | None = None,
        *,
        batch_size: int = 10_000,
        on_register: MergeHook | None = None,
        progress: Progress | None = None,
    ) -> MergeReport:
        from skybutler.workers import Manifest
        from skybutler.workers._merge import merge_outputs

        plan = manifest if isinstance(manifest, Manifest) else Manifest.load(str(manifest))
        run = self._run_record(plan.run)
        stored = {name: self.registry.dataset_types.resolve(name)[0] for name in plan.output_types}
        store = self.datastore.files("merge scale-out outputs")
        return merge_outputs(self.registry, store, plan, results, stored, run, batch_size=batch_size,
                             on_register=on_register, progress=progress)  # fmt: skip

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
        from skybutler.query import query_data_ids
        from skybutler.query._queries import dataset_type_names

        stored = []
        if datasets is not None:
            stored = [self.registry.dataset_types.get(n) for n in dataset_type_names(datasets)]
        leaves, note = self._query_path(collections) if stored else ([], None)
        return query_data_ids(self.registry, dimensions, where=where, bind=bind, data_id=data_id, datasets=stored,
                              leaves=leaves, order_by=order_by, limit=limit, kwargs=kwargs, note=note)  # fmt: skip

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
        from skybutler.query import query_datasets

        leaves, note = self._query_path(collections)
        at_ns = None if at is None else to_tai_ns(at)
        return query_datasets(
            self.registry, dataset_types, leaves, where=where, bind=bind, data_id=data_id,
            find_first=find_first and note is None, order_by=order_by, limit=limit, at=at_ns, kwargs=kwargs, note=note,
        )  # fmt: skip

    def _query_path(self, collections: CollectionsLike | None) -> tuple[list[CollectionRecord], str | None]:
        """What a query searches, and a note when the caller named nothing (then every RUN, not find-first).

        As the command line does: a query with no collections and no defaults searches every collection the
        caller may read.  Every dataset is in exactly one RUN, so every RUN is every dataset, each once.
        """
        if collections is not None or self.default_collections:
            return self.registry.collections.search_path(self._names(collections)), None
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
        from skybutler.query import completeness

        names = [dataset_types] if isinstance(dataset_types, str) else list(dataset_types)
        leaves = self.registry.collections.search_path(self._names(collections))
        return completeness(self.registry, names, dimensions, leaves, where=where, bind=bind, data_id=data_id,
                            kwargs=kwargs)  # fmt: skip

    def query_dataset_types(self, pattern: str | Iterable[str] = "*") -> list[DatasetType]:
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
        return self.registry.insert_dimension_records(element, records, skip_existing=skip_existing)

    def query_datasets_in_run(self, dataset_type: DatasetTypeLike, run: str) -> list[DatasetRef]:
        stored, _ = self.registry.dataset_types.resolve(dataset_type)
        record = self.registry.collections.get(run)
        dt = stored.dataset_type
        return [
            DatasetRef(row.id, dt, DataCoordinate.from_required(dt.dimensions, row.values), run)
            for row in self.registry.datasets.in_run(stored, record.id)
        ]


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
