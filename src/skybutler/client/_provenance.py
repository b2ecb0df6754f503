"""The provenance part of the `Butler` interface on `RemoteButler`: not served yet.

The server has no routes for lineage, run records, logs or invalidation yet (issue 23 left them for a
follow-up).  Each method says so with a `ConfigError` naming what to do instead, rather than answering wrongly.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NoReturn

from skybutler.errors import ConfigError

if TYPE_CHECKING:
    from skybutler.butler import Butler, Invalidation, LineageNode, RunDiff
    from skybutler.datasets import DatasetRef
    from skybutler.registry import RunRecord
    from skybutler.types import CollectionsLike, DataIdLike, TimeLike

__all__ = ["RemoteProvenance", "not_served"]


def not_served(what: str) -> NoReturn:
    """Raise the error for a provenance call a skybutler server does not answer yet."""
    raise ConfigError(
        f"{what} is not available through a skybutler server yet; open the repository directly "
        "(Butler(root) on its folder or database) for provenance."
    )


class RemoteProvenance:
    """`RemoteButler`'s half of `ButlerProvenanceInterface` (every call refused, see the module)."""

    def run_context(self, run: str, *, config: Mapping[str, Any] | None = None) -> AbstractContextManager[Butler]:
        not_served("run_context")

    def run_info(self, run: str) -> RunRecord:
        not_served("run_info")

    def diff_runs(self, a: str, b: str) -> RunDiff:
        not_served("diff_runs")

    def put_config(self, label: str, config: Mapping[str, Any], *, run: str | None = None) -> DatasetRef:
        not_served("put_config")

    def capture_logs(
        self,
        dataset_type: str,
        data_id: DataIdLike | None = None,
        *,
        run: str | None = None,
        level: int | str = "INFO",
        **kwargs: Any,
    ) -> AbstractContextManager[Any]:
        not_served("capture_logs")

    def get_dataset(self, dataset_id: uuid.UUID | str) -> DatasetRef | None:
        not_served("get_dataset")

    def lineage(
        self, ref: DatasetRef | Iterable[DatasetRef], *, direction: str = "up", depth: int | None = None
    ) -> list[LineageNode]:
        not_served("lineage")

    def impact(self, ref: DatasetRef | Iterable[DatasetRef], *, depth: int | None = None) -> list[LineageNode]:
        not_served("impact")

    def lineage_dot(self, ref: DatasetRef, *, direction: str = "up", depth: int | None = None) -> str:
        not_served("lineage_dot")

    def invalidated(
        self,
        collections: CollectionsLike | None = None,
        *,
        as_of: TimeLike | None = None,
        dataset_types: Iterable[str] | None = None,
    ) -> list[Invalidation]:
        not_served("invalidated")
