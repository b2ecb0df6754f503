# mypy: disable-error-code="empty-body"
"""The provenance part of the `Butler` interface: run records, lineage, impact, invalidated, logs, configs."""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from skybutler.butler._abstract import interface_method

if TYPE_CHECKING:
    import uuid

    from skybutler.butler._interface import Butler
    from skybutler.butler._provenance import Invalidation, LineageNode, RunDiff
    from skybutler.datasets import DatasetRef
    from skybutler.registry import RunRecord
    from skybutler.types import CollectionsLike, DataIdLike, TimeLike

__all__ = ["ButlerProvenanceInterface"]


class ButlerProvenanceInterface(ABC):
    """What made each dataset, what used it, and what a changed calibration invalidates (`Butler` inherits it).

    A put records its ``inputs=``; a run records its software environment, host, user, command line,
    configuration, start and end on its first write (or on entering `run_context`).
    """

    @interface_method
    def run_context(self, run: str, *, config: Mapping[str, Any] | None = None) -> AbstractContextManager[Butler]:
        """Write into ``run`` within the block, recording who ran what, where, when, with what configuration.

        The run's record (software environment, Python, host, user, command line, working folder, start,
        ``config``) is made on entry and its end time set on exit (also when the block raises).  A read-only
        butler is writeable for the run within the block; afterwards its run and writeability are restored.
        Yields this butler.
        """

    @interface_method
    def run_info(self, run: str) -> RunRecord:
        """Who made ``run``, where, when and with what: environments (every distribution's version), config,
        and the task configurations stored in it (`put_config`).

        Raises
        ------
        CollectionError
            No such collection.
        DatasetNotFoundError
            The run has no record (never written, or written before provenance was recorded).
        """

    @interface_method
    def diff_runs(self, a: str, b: str) -> RunDiff:
        """What differs between two runs' records: distribution versions, configuration values, Python."""

    @interface_method
    def put_config(self, label: str, config: Mapping[str, Any], *, run: str | None = None) -> DatasetRef:
        """Store a task's configuration in the run as the dataset ``<label>_config`` (`run_info` lists it).

        The dataset type (no dimensions, ``StructuredDataDict``) is registered on first use.

        Raises
        ------
        ConflictError
            The run has a configuration for this label already.
        """

    @interface_method
    def capture_logs(
        self,
        dataset_type: str,
        data_id: DataIdLike | None = None,
        *,
        run: str | None = None,
        level: int | str = "INFO",
        **kwargs: Any,
    ) -> AbstractContextManager[Any]:
        """Collect the log records of a block (``level`` and above) and store them as a dataset when it ends.

        Use it as ``with butler.capture_logs("isr_log", instrument=..., ...):``; the dataset type is
        registered (storage class ``LogRecords``, JSON lines) if needed, with the data ID's dimensions.  A block
        that raises still stores its log, the exception last.  Read it back with `get`;
        ``parameters={"level": "WARNING"}`` keeps the warnings and worse.
        """

    @interface_method
    def get_dataset(self, dataset_id: uuid.UUID | str) -> DatasetRef | None:
        """The registered dataset with this ID (None when there is none)."""

    @interface_method
    def lineage(
        self, ref: DatasetRef | Iterable[DatasetRef], *, direction: str = "up", depth: int | None = None
    ) -> list[LineageNode]:
        """The datasets ``ref`` was made from (``direction="up"``) or that used it (``"down"``), nearest first.

        ``depth`` limits the edges followed (None: to the end).  Each `LineageNode` is there once, at its
        shortest distance; a dataset removed since keeps its ID and type, with ``ref=None``.
        """

    @interface_method
    def impact(self, ref: DatasetRef | Iterable[DatasetRef], *, depth: int | None = None) -> list[LineageNode]:
        """Every dataset that used ``ref``, transitively (`lineage` downwards)."""

    @interface_method
    def lineage_dot(self, ref: DatasetRef, *, direction: str = "up", depth: int | None = None) -> str:
        """The graph of `lineage` (or `impact`, ``direction="down"``) as Graphviz DOT text: input → output."""

    @interface_method
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

        Raises
        ------
        CollectionError
            None of the collections is a CALIBRATION collection.
        """
