"""The provenance part of the `Butler` interface on `RemoteButler` (issue 23 through the server).

The writer of a run is this process: `run_context` and the first put into a run send its host, user, command
line and software environment (`skybutler.butler.writer_origin`), which the server records as a local butler
records its own.  Logs are collected here and stored with an ordinary put; configs likewise.  Lineage, impact,
run records and invalidation are answered by the server, which shows only what the caller may read: lineage
nodes in runs the caller may not read are left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from skybutler.datasets import DatasetRef
from skybutler.errors import DataIdError, DatasetTypeError
from skybutler.wire import (
    InvalidatedRequest,
    InvalidationModel,
    LineageNodeModel,
    LineageRequest,
    OriginModel,
    RefModel,
    RunRequest,
    ref_to_wire,
)

if TYPE_CHECKING:
    from skybutler.butler import Butler, Invalidation, LineageNode, RunDiff
    from skybutler.client._http import Session
    from skybutler.datasets import DatasetType
    from skybutler.registry import RunRecord
    from skybutler.types import CollectionsLike, DataIdLike, DatasetTypeLike, TimeLike

__all__ = ["RemoteProvenance"]


class RemoteProvenance:
    """`RemoteButler`'s half of `ButlerProvenanceInterface` (a mixin; it uses the attributes below)."""

    _session: Session
    run: str | None
    writeable: bool
    default_collections: list[str]
    _recorded_runs: set[str]
    """Runs this butler has sent its writer's origin for (sent once per run, with the first write)."""

    if TYPE_CHECKING:  # provided by RemoteButler

        def get_dataset_type(self, name: str) -> DatasetType: ...
        def _ref_of(self, model: RefModel) -> DatasetRef: ...
        def register_dataset_type(self, name: str, dimensions: Iterable[str], storage_class: str, *,
                                  is_calibration: bool = False, format: str | None = None) -> Any: ...  # fmt: skip
        def put(self, obj: Any, dataset_type: DatasetTypeLike, data_id: DataIdLike | None = None, *,
                run: str | None = None, inputs: Any = None, **kwargs: Any) -> DatasetRef: ...  # fmt: skip

    def _origin_for(self, run: str, config: Mapping[str, Any] | None = None) -> OriginModel | None:
        """This process as ``run``'s writer, the first time this butler writes into it (else None)."""
        if run in self._recorded_runs:
            return None
        from skybutler.butler import writer_origin

        return OriginModel.model_validate(writer_origin(None if config is None else dict(config)))

    # -- runs ------------------------------------------------------------------------------------------------------
    def run_context(self, run: str, *, config: Mapping[str, Any] | None = None) -> AbstractContextManager[Butler]:
        return self._run_context(run, config)

    @contextmanager
    def _run_context(self, run: str, config: Mapping[str, Any] | None) -> Iterator[Butler]:
        saved = (self.run, self.writeable, self.default_collections)
        self.run, self.writeable = run, True
        if saved[0] is None and not saved[2]:
            self.default_collections = [run]
        try:
            from skybutler.butler import writer_origin

            origin = OriginModel.model_validate(writer_origin(None if config is None else dict(config)))
            request = RunRequest(run=run, origin=origin, config=None if config is None else dict(config))
            self._session.call("POST", "/runs/record", request, what=f"enter run {run!r}")
            self._recorded_runs.add(run)
            try:
                yield self  # type: ignore[misc]
            finally:  # a block that failed ended too
                self._session.call("POST", "/runs/record", RunRequest(run=run, finish=True), what=f"leave {run!r}")
        finally:
            self.run, self.writeable, self.default_collections = saved

    def run_info(self, run: str) -> RunRecord:
        from skybutler.registry import Environment, RunRecord

        answer = self._session.call("GET", f"/runs/{run}", idempotent=True, what=f"run_info({run!r})")
        return RunRecord(
            run=answer["run"], host=answer["host"], user=answer["user"], command=answer["command"],
            cwd=answer["cwd"], started=answer["started"], ended=answer["ended"], config=answer["config"],
            environments=tuple(Environment.from_json(e) for e in answer["environments"]),
            task_configs={k: self._ref_of(RefModel.model_validate(r)) for k, r in answer["task_configs"].items()},
        )  # fmt: skip

    def diff_runs(self, a: str, b: str) -> RunDiff:
        from skybutler.butler import diff_records

        return diff_records(self.run_info(a), self.run_info(b))

    def put_config(self, label: str, config: Mapping[str, Any], *, run: str | None = None) -> DatasetRef:
        name = f"{label}_config"
        try:
            self.get_dataset_type(name)  # registering needs admin: only when it is new
        except DatasetTypeError:
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
        from skybutler.butler import LogCapture

        return LogCapture(self, dataset_type, data_id, run, kwargs, level)  # type: ignore[arg-type]

    # -- lineage ---------------------------------------------------------------------------------------------------
    def get_dataset(self, dataset_id: uuid.UUID | str) -> DatasetRef | None:
        try:
            key = dataset_id if isinstance(dataset_id, uuid.UUID) else uuid.UUID(str(dataset_id))
        except ValueError:
            raise DataIdError(f"{dataset_id!r} is not a dataset ID (a UUID).") from None
        answer = self._session.call("GET", f"/datasets/by-id/{key.hex}", idempotent=True, what="get_dataset")
        return None if answer is None else self._ref_of(RefModel.model_validate(answer))

    def _lineage_request(
        self, ref: DatasetRef | Iterable[DatasetRef], direction: str, depth: int | None, dot: bool = False
    ) -> LineageRequest:
        if direction not in ("up", "down"):
            raise DataIdError(f"direction={direction!r}: use 'up' (inputs) or 'down' (what used it).")
        refs = [ref] if isinstance(ref, DatasetRef) else list(ref)
        return LineageRequest(refs=[ref_to_wire(r) for r in refs], direction=direction, depth=depth, dot=dot)  # type: ignore[arg-type]

    def lineage(
        self, ref: DatasetRef | Iterable[DatasetRef], *, direction: str = "up", depth: int | None = None
    ) -> list[LineageNode]:
        from skybutler.butler import LineageNode

        request = self._lineage_request(ref, direction, depth)
        answer = self._session.call("POST", "/provenance/lineage", request, idempotent=True, what="lineage")
        nodes = [LineageNodeModel.model_validate(n) for n in answer]
        return [
            LineageNode(uuid.UUID(n.id), n.dataset_type, n.depth, None if n.ref is None else self._ref_of(n.ref))
            for n in nodes
        ]

    def impact(self, ref: DatasetRef | Iterable[DatasetRef], *, depth: int | None = None) -> list[LineageNode]:
        return self.lineage(ref, direction="down", depth=depth)

    def lineage_dot(self, ref: DatasetRef, *, direction: str = "up", depth: int | None = None) -> str:
        request = self._lineage_request(ref, direction, depth, dot=True)
        return str(self._session.call("POST", "/provenance/lineage", request, idempotent=True, what="lineage_dot"))

    def invalidated(
        self,
        collections: CollectionsLike | None = None,
        *,
        as_of: TimeLike | None = None,
        dataset_types: Iterable[str] | None = None,
    ) -> list[Invalidation]:
        from skybutler.butler import Invalidation
        from skybutler.client._helpers import names, tai_ns

        given = names(collections)
        request = InvalidatedRequest(
            collections=self.default_collections if given is None else given,
            as_of=tai_ns(as_of),
            dataset_types=None if dataset_types is None else list(dataset_types),
        )
        answer = self._session.call("POST", "/provenance/invalidated", request, idempotent=True, what="invalidated")
        out = []
        for item in (InvalidationModel.model_validate(a) for a in answer):
            used = uuid.UUID(item.used) if isinstance(item.used, str) else self._ref_of(item.used)
            now_valid = None if item.now_valid is None else self._ref_of(item.now_valid)
            out.append(Invalidation(self._ref_of(item.output), used, now_valid, item.observed, item.collection))
        return out
