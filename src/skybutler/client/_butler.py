"""`RemoteButler`: the local `Butler`'s API over HTTP, reads and writes, with the bytes going straight to storage."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, BinaryIO

from skybutler.butler import Butler, DeferredDatasetHandle
from skybutler.client._collections import RemoteCollections
from skybutler.client._helpers import data_id_json, is_server, names, tai_ns
from skybutler.client._http import Session
from skybutler.client._io import FormatterCache, SignedUrlTransport, read_artifact
from skybutler.client._maintenance import RemoteMaintenance
from skybutler.client._provenance import RemoteProvenance
from skybutler.client._puts import put_objects
from skybutler.client._results import parse_data_ids, read_data_ids, read_datasets
from skybutler.client._transfers import RemoteTransfers
from skybutler.datasets import DatasetRef, DatasetType, storage_classes
from skybutler.dimensions import DataCoordinate, DimensionRecord, DimensionUniverse
from skybutler.errors import DatasetNotFoundError, DatasetTypeError, PermissionDeniedError
from skybutler.wire import (
    CompletenessRequest,
    DimensionRecordsRequest,
    FindRequest,
    FindResponse,
    QueryDataIdsRequest,
    QueryDatasetsRequest,
    QueryHeader,
    RefModel,
    RefsRequest,
    RegisterDatasetTypeRequest,
    RemoveRequest,
    ServerInfo,
    dataset_type_from_wire,
    json_value,
    ref_from_wire,
    ref_to_wire,
)

if TYPE_CHECKING:
    import httpx

    from skybutler.datasets import DatasetIdMode
    from skybutler.query import CompletenessTable, DataIdResults, DatasetResults
    from skybutler.registry import CollectionType
    from skybutler.types import CollectionsLike, DataIdLike, DatasetTypeLike, InputsLike, TimeLike

__all__ = ["RemoteButler"]


class RemoteButler(RemoteTransfers, RemoteProvenance, RemoteMaintenance, Butler):
    """A repository served by ``skybutler serve``, used as a local `Butler` is.

    Parameters
    ----------
    url
        The server's URL (``http://host:port``).
    token
        Bearer token (``skybutler token create``); default: ``SKYBUTLER_TOKEN``.
    run, collections, writeable
        As for `Butler`: the run `put` writes into, the default search path, whether writes are allowed.
    timeout
        Seconds to wait for the server on each request.
    retries
        Retries of a read (never of a write) after a connection failure or a 502/503/504, with backoff.
    client
        An httpx client to send requests with (tests); default: a pooled one of our own.

    Examples
    --------
    >>> butler = RemoteButler("http://127.0.0.1:8080", token="sbt_...", run="u/alice/run1")  # doctest: +SKIP
    >>> butler.get("calexp", instrument="HSC", visit=1228, detector=42)  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        run: str | None = None,
        collections: CollectionsLike | None = None,
        writeable: bool | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        client: httpx.Client | None = None,
    ) -> None:
        self.root = url.rstrip("/")
        self._session = Session(self.root, token, timeout=timeout, retries=retries, client=client)
        try:
            self.info = ServerInfo.model_validate(self._session.call("GET", "/", idempotent=True, what="connect"))
        except BaseException:
            self._session.close()
            raise
        """What the server said of itself (`ServerInfo`): version, formats, who the token names."""
        self.universe = DimensionUniverse.from_yaml(self.info.universe)
        self.run = run
        self.writeable = run is not None if writeable is None else writeable
        given = names(collections)
        self.default_collections: list[str] = given if given is not None else ([run] if run else [])
        """The search path used when a call gives no ``collections=``."""
        self._types: dict[str, DatasetType] = {}
        self._formatters = FormatterCache()
        self._recorded_runs: set[str] = set()
        if run is not None and self.writeable:
            self.collections.register(run, "RUN")

    @classmethod
    def accepts_root(cls, root: str) -> bool:
        """Whether ``root`` answers ``GET <root>/api/v1/`` as a skybutler server (``Butler(url)`` asks this)."""
        return is_server(root)

    @cached_property
    def collections(self) -> RemoteCollections:
        """Collection management, as `Butler.collections`."""
        return RemoteCollections(self._session, lambda: self.writeable, self.get_dataset_type)

    def close(self) -> None:
        """Close the connections to the server."""
        self._session.close()

    def __enter__(self) -> RemoteButler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteButler({self.root!r}, run={self.run!r}, collections={self.default_collections!r})"

    # -- dataset types -----------------------------------------------------------------------------------------
    def register_dataset_type(
        self,
        name: str,
        dimensions: Iterable[str],
        storage_class: str,
        *,
        is_calibration: bool = False,
        format: str | None = None,
    ) -> DatasetType:
        """As `Butler.register_dataset_type` (needs the ``admin`` grant)."""
        request = RegisterDatasetTypeRequest(
            name=name,
            dimensions=list(dimensions),
            storage_class=storage_class,
            is_calibration=is_calibration,
            format=format,
        )
        answer = self._session.call("POST", "/dataset-types", request, what=f"register dataset type {name!r}")
        return self._remember(answer)

    def _remember(self, answer: Any) -> DatasetType:
        from skybutler.wire import DatasetTypeModel

        dt = dataset_type_from_wire(DatasetTypeModel.model_validate(answer), self.universe)
        self._types[dt.name] = dt
        return dt

    def get_dataset_type(self, name: str) -> DatasetType:
        """The registered dataset type ``name`` (cached: dataset types never change once registered)."""
        found = self._types.get(name)
        if found is None:
            answer = self._session.call("GET", f"/dataset-types/{name}", idempotent=True, what=f"dataset type {name}")
            found = self._remember(answer)
        return found

    def remove_dataset_type(self, name: str) -> None:
        """As `Butler.remove_dataset_type` (admin)."""
        if not self.writeable:
            raise PermissionDeniedError("This butler is read-only; open it with writeable=True to remove a type.")
        self._session.call("DELETE", f"/dataset-types/{name}", what=f"remove dataset type {name!r}")
        self._types.pop(name, None)

    def query_dataset_types(self, pattern: str | Iterable[str] = "*") -> list[DatasetType]:
        """Registered dataset types matching glob pattern(s), sorted by name."""
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        answer = self._session.call("GET", "/dataset-types", params={"pattern": patterns}, idempotent=True)
        return [self._remember(a) for a in answer]

    def _parent_type(self, dataset_type: DatasetTypeLike) -> tuple[DatasetType, str | None]:
        name = dataset_type if isinstance(dataset_type, str) else dataset_type.name
        parent, _, component = name.partition(".")
        dt = self.get_dataset_type(parent)
        if not isinstance(dataset_type, str) and not component and dt != dataset_type:
            raise DatasetTypeError(
                f"The dataset type given, {dataset_type.describe()}, differs from the registered {dt.describe()}."
            )
        return dt, component or None

    # -- put -----------------------------------------------------------------------------------------------------
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
        """As `Butler.put`: the file is written here and uploaded to storage; the server registers it (with
        ``inputs``, readable datasets that must exist, as the new dataset's lineage)."""
        from skybutler.butler import input_ids

        return self._put(dataset_type, [(obj, data_id_json(data_id, kwargs))], run, None, [input_ids(inputs)])[0]

    def put_many(
        self,
        items: Iterable[tuple[Any, DataIdLike] | tuple[Any, DataIdLike, InputsLike]],
        dataset_type: DatasetTypeLike,
        *,
        run: str | None = None,
        id_mode: DatasetIdMode | None = None,
        inputs: InputsLike | None = None,
    ) -> list[DatasetRef]:
        """As `Butler.put_many`: all stored in one registry transaction, or none (``inputs`` of every item, plus
        each item's own as its third element)."""
        from skybutler.butler import input_ids

        listed = list(items)
        shared = input_ids(inputs)
        per_item = [list(dict.fromkeys([*shared, *input_ids(item[2])])) if len(item) > 2 else shared for item in listed]
        data = [(item[0], data_id_json(item[1], {})) for item in listed]
        return self._put(dataset_type, data, run, id_mode, per_item)

    def _put(
        self,
        dataset_type: DatasetTypeLike,
        items: Sequence[tuple[Any, dict[str, Any]]],
        run: str | None,
        id_mode: DatasetIdMode | None,
        inputs: list[list[uuid.UUID]],
    ) -> list[DatasetRef]:
        if not self.writeable:
            raise PermissionDeniedError("This butler is read-only; open it with run= (or writeable=True) to put.")
        run = run or self.run
        if run is None:
            raise PermissionDeniedError("No run to put into: open the butler with run=, or pass run= to put.")
        dt, component = self._parent_type(dataset_type)
        if component:
            raise DatasetTypeError(f"Cannot put a component ({dataset_type}); put the whole {dt.name}.")
        sc = storage_classes.get(dt.storage_class)
        objects = [sc.coerce(obj) for obj, _ in items]  # refused before anything reaches the server
        origin = self._origin_for(run)
        refs = put_objects(
            self._session, self._formatters, dt, objects, [d for _, d in items], run, id_mode,
            inputs if any(inputs) else None, origin,
        )  # fmt: skip
        self._recorded_runs.add(run)
        return refs

    # -- find and get ------------------------------------------------------------------------------------------
    def _find(
        self,
        dataset_type: DatasetTypeLike | DatasetRef,
        data_id: DataIdLike | None,
        collections: CollectionsLike | None,
        kwargs: Mapping[str, Any],
        at: TimeLike | None = None,
        as_of: TimeLike | None = None,
        *,
        artifacts: bool = False,
    ) -> FindResponse:
        if isinstance(dataset_type, DatasetRef):
            request = FindRequest(
                dataset_type=dataset_type.dataset_type.name,
                id=dataset_type.id.hex,
                artifacts=artifacts,
                inline=artifacts,
            )
        else:
            name = dataset_type if isinstance(dataset_type, str) else dataset_type.name
            if not isinstance(dataset_type, str):
                self._parent_type(dataset_type)
            given = names(collections)
            request = FindRequest(
                dataset_type=name,
                data_id=data_id_json(data_id, kwargs),
                collections=self.default_collections if given is None else given,
                at=tai_ns(at),
                as_of=tai_ns(as_of),
                artifacts=artifacts,
                inline=artifacts,
            )
        return self._session.call_model("POST", "/datasets/find", request, FindResponse, idempotent=True, what="find")

    def _ref_of(self, model: RefModel) -> DatasetRef:
        return ref_from_wire(model, self.get_dataset_type(model.dataset_type))

    def _ref(self, found: FindResponse) -> DatasetRef:
        dt = self._types.get(found.dataset_type.name) or self._remember(found.dataset_type.model_dump())
        return ref_from_wire(found.ref, dt)

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
        """As `Butler.find_dataset`."""
        try:
            return self._ref(self._find(dataset_type, data_id, collections, kwargs, at, as_of))
        except DatasetNotFoundError:
            return None

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
        """As `Butler.exists`: the registry's answer, without touching storage."""
        try:
            self._find(dataset_type, data_id, collections, kwargs, at, as_of)
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
        """As `Butler.get`: one round trip for small datasets, ranged reads of the signed URL for cut-outs."""
        found = self._find(dataset_type, data_id, collections, kwargs, at, as_of, artifacts=True)
        return self._read(found, storage_class, parameters)

    def _read(self, found: FindResponse, storage_class: str | None, parameters: Mapping[str, Any] | None) -> Any:
        if not found.artifacts:
            raise DatasetNotFoundError(f"Dataset {found.ref.id} is registered but has no stored file.")
        wanted = storage_class or found.dataset_type.storage_class
        reachable = [a for a in found.artifacts if a.inline is not None or a.url is not None]
        if not reachable:  # objects in memory: their bytes come through the server
            return self._read_through_server(found, wanted, parameters)
        return read_artifact(
            reachable[0], self._session.client, self._formatters, storage_class=wanted, component=found.component,
            parameters=parameters,
        )  # fmt: skip

    def _read_through_server(self, found: FindResponse, wanted: str, parameters: Mapping[str, Any] | None) -> Any:
        import io

        from skybutler.errors import FormatterError

        request = FindRequest(dataset_type=found.dataset_type.name, id=found.ref.id)
        response = self._session.raw("POST", "/datasets/read", request, what=f"read {found.ref.id}")
        formatter = self._formatters.get(response.headers["X-Skybutler-Formatter"])
        try:
            obj = formatter.read(io.BytesIO(response.content), component=found.component, parameters=parameters)
        except FormatterError:
            raise
        except Exception as exc:
            raise FormatterError(f"Formatter {formatter.name!r} could not read dataset {found.ref.id}: {exc}") from exc
        if found.component is None and wanted != found.dataset_type.storage_class:
            obj = storage_classes.get(wanted).coerce(obj)
        return obj

    def get_many(self, refs: Sequence[DatasetRef]) -> list[Any]:
        """As `Butler.get_many`: one lookup for all refs, then each read."""
        request = RefsRequest(refs=[ref_to_wire(r) for r in refs])
        answer = self._session.call("POST", "/datasets/lookup", request, idempotent=True, what="get_many")
        return [self._read(FindResponse.model_validate(a), None, None) for a in answer]

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
        """As `Butler.get_deferred`: found now (failing fast), read on demand."""
        ref = self._ref(self._find(dataset_type, data_id, collections, kwargs, at, as_of))
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
        """A URL of the dataset's file: signed, so it works without a token, and short-lived (objects in memory:
        their ``mem://`` URI, which only the server can read)."""
        found = self._find(dataset_type, data_id, collections, kwargs, at, as_of, artifacts=True)
        if not found.artifacts:
            raise DatasetNotFoundError(f"Dataset {found.ref.id} is registered but has no stored file.")
        first = found.artifacts[0]  # the copy a get reads first, as locally
        return first.url or first.uri or first.path

    def open_uri(self, uri: str) -> BinaryIO:
        """As `Butler.open_uri`: a seekable reader of a signed URL, by ranged requests on this butler's connections
        (the token is not sent with it); other URIs as locally."""
        if uri.startswith(("http://", "https://")):
            return SignedUrlTransport(uri, self._session.client).open("")
        return super().open_uri(uri)

    # -- remove and maintenance --------------------------------------------------------------------------------
    def remove(self, refs: Iterable[DatasetRef], *, even_if_used: bool = False) -> int:
        """As `Butler.remove` (write on each dataset's run): a dataset another records as an input is refused
        unless ``even_if_used`` (its lineage edges are kept)."""
        if not self.writeable:
            raise PermissionDeniedError("This butler is read-only; open it with writeable=True to remove datasets.")
        request = RemoveRequest(refs=[ref_to_wire(r) for r in refs], even_if_used=even_if_used)
        return int(self._session.call("POST", "/datasets/remove", request, what="remove")["removed"])

    # -- queries -----------------------------------------------------------------------------------------------
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
        """As `Butler.query_datasets`: streamed; collections the caller may not read are left out (and said)."""
        if isinstance(dataset_types, str | DatasetType):
            dataset_types = [dataset_types]
        given = names(collections)
        request = QueryDatasetsRequest(
            dataset_types=[t if isinstance(t, str) else t.name for t in dataset_types],
            collections=given if given is not None else (self.default_collections or None),
            where=where,
            bind=dict(bind) if bind else None,
            data_id=data_id_json(data_id, kwargs) or None,
            find_first=find_first,
            order_by=list(order_by) if order_by else None,
            limit=limit,
            at=tai_ns(at),
        )
        lines = self._session.stream_lines("/query/datasets", request, what="query_datasets")
        return read_datasets(lines, self.universe, self._types)

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
        """As `Butler.query_data_ids`."""
        if isinstance(datasets, str | DatasetType):
            datasets = [datasets]
        given = names(collections)
        request = QueryDataIdsRequest(
            dimensions=list(dimensions),
            where=where,
            bind=dict(bind) if bind else None,
            data_id=data_id_json(data_id, kwargs) or None,
            datasets=None if datasets is None else [d if isinstance(d, str) else d.name for d in datasets],
            collections=given if given is not None else (self.default_collections or None),
            order_by=list(order_by) if order_by else None,
            limit=limit,
        )
        lines = self._session.stream_lines("/query/data-ids", request, what="query_data_ids")

        def expand() -> list[DataCoordinate]:
            again = request.model_copy(update={"expanded": True})
            answer = self._session.stream_lines("/query/data-ids", again, what="query_data_ids(...).expanded()")
            return parse_data_ids(QueryHeader.model_validate_json(answer[0]), answer, self.universe)

        return read_data_ids(lines, self.universe, request.dimensions, expand)

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
        """As `Butler.query_dimension_records`."""
        request = DimensionRecordsRequest(
            element=element,
            where=where,
            bind=dict(bind) if bind else None,
            data_id=data_id_json(data_id, kwargs) or None,
            order_by=list(order_by) if order_by else None,
            limit=limit,
        )
        answer = self._session.call("POST", "/query/dimension-records", request, idempotent=True)
        from skybutler.client._results import record_from_wire

        return [record_from_wire(self.universe[element], r) for r in answer]

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
        """As `Butler.missing`: the completeness matrix."""
        from skybutler.query._missing import CompletenessRow, CompletenessTable

        types = [dataset_types] if isinstance(dataset_types, str) else list(dataset_types)
        request = CompletenessRequest(
            dataset_types=types,
            dimensions=list(dimensions),
            collections=names(collections) or self.default_collections or None,
            where=where,
            bind=dict(bind) if bind else None,
            data_id=data_id_json(data_id, kwargs) or None,
        )
        answer = self._session.call("POST", "/query/missing", request, idempotent=True, what="missing")
        group = self.universe.group(answer["data_id_dimensions"]) if answer["rows"] else None
        rows = [
            CompletenessRow(DataCoordinate.from_required(group, tuple(values)), counts)  # type: ignore[arg-type]
            for values, counts in answer["rows"]
        ]
        return CompletenessTable(tuple(answer["dimensions"]), tuple(answer["dataset_types"]), rows)

    def query_datasets_in_run(self, dataset_type: DatasetTypeLike, run: str) -> list[DatasetRef]:
        """Every dataset of a type born in ``run``."""
        name = dataset_type if isinstance(dataset_type, str) else dataset_type.name
        return [r for r in self.query_datasets(name, collections=run, find_first=False) if r.run == run]

    def query_collections(
        self,
        pattern: str | Iterable[str] = "*",
        *,
        types: CollectionType | str | Iterable[CollectionType | str] | None = None,
        flatten_chains: bool = False,
    ) -> list[str]:
        """Names of the collections matching pattern(s) and types that the caller may read."""
        return [r.name for r in self.collections.query(pattern, types=types, flatten_chains=flatten_chains)]

    def insert_dimension_records(
        self, element: str, records: Iterable[Mapping[str, Any]], *, skip_existing: bool = False
    ) -> int:
        """As `Butler.insert_dimension_records` (admin)."""
        body = [{k: json_value(v) for k, v in dict(r).items()} for r in records]
        answer = self._session.call(
            "POST",
            f"/dimension-records/{element}",
            json_body=body,
            params={"skip_existing": skip_existing},
            what=f"insert {element} records",
        )
        return int(answer["inserted"])
