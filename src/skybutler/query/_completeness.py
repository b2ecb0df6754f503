"""Completeness: which of several dataset types each data ID has, and which it lacks (``butler.missing``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skybutler.query._queries import query_data_ids

if TYPE_CHECKING:
    from skybutler.dimensions import DataCoordinate
    from skybutler.registry import CollectionRecord, Registry, StoredDatasetType

__all__ = ["Completeness", "completeness"]


@dataclass(frozen=True, slots=True)
class Completeness:
    """A matrix: one row per data ID of ``dimensions``, one column per dataset type, True where it exists."""

    dimensions: tuple[str, ...]
    dataset_types: tuple[str, ...]
    rows: list[tuple[DataCoordinate, tuple[bool, ...]]]

    def missing(self) -> list[tuple[DataCoordinate, list[str]]]:
        """The incomplete rows only, each with the names of the dataset types it lacks."""
        out = []
        for data_id, present in self.rows:
            lacking = [name for name, here in zip(self.dataset_types, present, strict=True) if not here]
            if lacking:
                out.append((data_id, lacking))
        return out

    @property
    def is_complete(self) -> bool:
        """Whether every data ID has every dataset type."""
        return all(all(present) for _, present in self.rows)


def completeness(
    registry: Registry,
    dataset_types: Sequence[StoredDatasetType],
    dimensions: Iterable[str],
    leaves: Sequence[CollectionRecord],
    *,
    where: str = "",
    bind: Mapping[str, Any] | None = None,
    data_id: Any = None,
    kwargs: Mapping[str, Any] | None = None,
) -> Completeness:
    """The data IDs of ``dimensions`` satisfying the constraints, and which dataset types each has in ``leaves``.

    One data-ID query for the rows and one per dataset type (a join with its datasets), so a dataset type
    whose dimensions differ from ``dimensions`` (a ``bias`` per detector against visit x detector rows) is
    matched the way a query would join it.
    """
    group = registry.universe.group(dimensions)
    common = {"where": where, "bind": bind, "data_id": data_id, "kwargs": kwargs}
    everything = list(query_data_ids(registry, group.names, **common))
    present = [
        set(query_data_ids(registry, group.names, datasets=[stored], leaves=leaves, **common))
        for stored in dataset_types
    ]
    rows = [(coord, tuple(coord in found for found in present)) for coord in everything]
    return Completeness(tuple(group.names), tuple(s.dataset_type.name for s in dataset_types), rows)
