"""The provenance methods of `DirectButler` (the logic lives in `_provenance`, `_run_context` and the registry)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from skybutler.datasets import DatasetRef
from skybutler.errors import DataIdError, DatasetNotFoundError

if TYPE_CHECKING:
    from skybutler.butler._interface import Butler
    from skybutler.butler._provenance import Invalidation, LineageNode, RunDiff
    from skybutler.registry import CollectionRecord, Registry, RunRecord
    from skybutler.types import CollectionsLike, DataIdLike, DatasetTypeLike, TimeLike

__all__ = ["DirectProvenance"]


class DirectProvenance:
    """`DirectButler`'s half of `ButlerProvenanceInterface`: each method checks and delegates.

    A mixin, so `DirectButler` stays one class of one concept per module; it uses only the attributes below.
    """

    registry: Registry
    run: str | None
    writeable: bool
    default_collections: list[str]
    _recorded_runs: set[int]

    if TYPE_CHECKING:  # provided by DirectButler

        def _run_record(self, run: str | None) -> CollectionRecord: ...
        def _names(self, collections: CollectionsLike | None) -> list[str]: ...
        def put(self, obj: Any, dataset_type: DatasetTypeLike, data_id: DataIdLike | None = None, *,
                run: str | None = None, inputs: Any = None, **kwargs: Any) -> DatasetRef: ...  # fmt: skip
        def register_dataset_type(self, name: str, dimensions: Iterable[str], storage_class: str, *,
                                  is_calibration: bool = False, format: str | None = None) -> Any: ...  # fmt: skip

    def run_context(self, run: str, *, config: Mapping[str, Any] | None = None) -> AbstractContextManager[Butler]:
        return self._run_context(run, config)

    @contextmanager
    def _run_context(self, run: str, config: Mapping[str, Any] | None) -> Iterator[Butler]:
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
                yield self  # type: ignore[misc]
            finally:  # a block that failed ended too
                finish_run(self.registry, record)
        finally:
            self.run, self.writeable, self.default_collections = saved

    def run_info(self, run: str) -> RunRecord:
        from dataclasses import replace

        from skybutler.butler._provenance import task_configs

        record = self.registry.collections.get(run)
        found = self.registry.runs.get(record.id, record.name)
        if found is None:
            raise DatasetNotFoundError(f"Run {run!r} has no run record: it was never written, or written by a "
                                       "skybutler that did not record runs.")  # fmt: skip
        return replace(found, task_configs=task_configs(self.registry, record))

    def diff_runs(self, a: str, b: str) -> RunDiff:
        from skybutler.butler._provenance import diff_records

        return diff_records(self.run_info(a), self.run_info(b))

    def put_config(self, label: str, config: Mapping[str, Any], *, run: str | None = None) -> DatasetRef:
        name = f"{label}_config"
        self.register_dataset_type(name, [], "StructuredDataDict")
        return self.put(dict(config), name, {}, run=run)

    def capture_logs(
        self,
        dataset_type: str,
        data_id: DataIdLike | None = None,
        *,
        run: str | None = None,
        level: int | str = "INFO",
        **kwargs: Any,
    ) -> AbstractContextManager[Any]:
        from skybutler.butler._logs import LogCapture

        return LogCapture(self, dataset_type, data_id, run, kwargs, level)  # type: ignore[arg-type]

    def get_dataset(self, dataset_id: uuid.UUID | str) -> DatasetRef | None:
        from skybutler.butler._provenance import refs_by_id

        try:
            key = dataset_id if isinstance(dataset_id, uuid.UUID) else uuid.UUID(str(dataset_id))
        except ValueError:
            raise DataIdError(f"{dataset_id!r} is not a dataset ID (a UUID).") from None
        try:
            with self.registry.db.transaction(write=False) as conn:
                type_name = self.registry.lineage.input_types(conn, [key])[key]
        except DatasetNotFoundError:
            return None
        return refs_by_id(self.registry, [(key, type_name)]).get(key)

    def lineage(
        self, ref: DatasetRef | Iterable[DatasetRef], *, direction: str = "up", depth: int | None = None
    ) -> list[LineageNode]:
        from skybutler.butler._provenance import lineage

        if direction not in ("up", "down"):
            raise DataIdError(f"direction={direction!r}: use 'up' (inputs) or 'down' (what used it).")
        start = [ref.id] if isinstance(ref, DatasetRef) else [r.id for r in ref]
        return lineage(self.registry, start, direction, depth)  # type: ignore[arg-type]

    def impact(self, ref: DatasetRef | Iterable[DatasetRef], *, depth: int | None = None) -> list[LineageNode]:
        return self.lineage(ref, direction="down", depth=depth)

    def lineage_dot(self, ref: DatasetRef, *, direction: str = "up", depth: int | None = None) -> str:
        from skybutler.butler._provenance import to_dot

        return to_dot(self.registry, ref, self.lineage(ref, direction=direction, depth=depth))

    def invalidated(
        self,
        collections: CollectionsLike | None = None,
        *,
        as_of: TimeLike | None = None,
        dataset_types: Iterable[str] | None = None,
    ) -> list[Invalidation]:
        from skybutler.butler._calibration_time import check_as_of
        from skybutler.butler._provenance import invalidated
        from skybutler.registry._calibrations import tai_now

        leaves = self.registry.collections.search_path(self._names(collections))
        as_of_ns = tai_now() if as_of is None else check_as_of(as_of)
        return invalidated(self.registry, leaves, as_of_ns, dataset_types)
