"""The completeness matrix: for each data ID of a query, how many datasets of each type exist."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skybutler.errors import DatasetTypeError
from skybutler.plugins import require
from skybutler.query._queries import query_data_ids, query_datasets

if TYPE_CHECKING:
    from skybutler.dimensions import DataCoordinate
    from skybutler.registry import CollectionRecord, Registry

__all__ = ["CompletenessRow", "CompletenessTable", "completeness"]


@dataclass(frozen=True, slots=True)
class CompletenessRow:
    """One data ID and the number of datasets of each type found for it."""

    data_id: DataCoordinate
    counts: dict[str, int]

    @property
    def missing(self) -> list[str]:
        """The dataset types with no dataset for this data ID."""
        return [name for name, n in self.counts.items() if n == 0]

    @property
    def complete(self) -> bool:
        """Whether every dataset type has at least one dataset here."""
        return all(self.counts.values())


@dataclass(slots=True)
class CompletenessTable:
    """Rows of `CompletenessRow`, in data-ID order; plain rows, a DataFrame or a text table on request."""

    dimensions: tuple[str, ...]
    dataset_types: tuple[str, ...]
    rows: list[CompletenessRow] = field(default_factory=list)

    def __iter__(self) -> Iterator[CompletenessRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def incomplete(self) -> list[CompletenessRow]:
        """The rows where at least one dataset type is missing."""
        return [row for row in self.rows if not row.complete]

    def missing_counts(self) -> dict[str, int]:
        """For each dataset type, the number of data IDs without it."""
        return {name: sum(1 for row in self.rows if row.counts[name] == 0) for name in self.dataset_types}

    def to_rows(self) -> list[dict[str, Any]]:
        """One flat dict per data ID: its dimension values, then the count of each dataset type."""
        return [{**dict(row.data_id), **row.counts} for row in self.rows]

    def to_pandas(self) -> Any:
        """A `pandas.DataFrame` of `to_rows` (pandas is imported here, on demand; the parquet extra installs it)."""
        pd = require("pandas", "CompletenessTable.to_pandas()")

        return pd.DataFrame(self.to_rows(), columns=[*self.dimensions, *self.dataset_types])


def completeness(
    registry: Registry,
    dataset_types: Sequence[str],
    dimensions: Iterable[str],
    leaves: Sequence[CollectionRecord],
    *,
    where: str = "",
    bind: Mapping[str, Any] | None = None,
    data_id: Any = None,
    kwargs: Mapping[str, Any] | None = None,
) -> CompletenessTable:
    """Count, for every data ID of ``dimensions`` satisfying the constraints, the datasets of each type.

    A dataset type's dimensions must lie within ``dimensions`` (its data IDs are projections of the rows');
    one query per dataset type (find-first along ``leaves``) and one for the data IDs, then a join in memory.

    Raises
    ------
    DatasetTypeError
        A dataset type has dimensions outside ``dimensions`` (the message names them).
    """
    group = registry.universe.group(dimensions)
    names = list(dict.fromkeys(dataset_types))
    stored = [registry.dataset_types.get(n) for n in names]
    for s in stored:
        outside = [d for d in s.dataset_type.dimensions.required if d not in group.names]
        if outside:
            raise DatasetTypeError(
                f"Dataset type {s.dataset_type.name!r} has dimensions {outside} outside {list(group.required)}; "
                f"add them to the dimensions of the matrix."
            )
    ids = query_data_ids(registry, group.names, where=where, bind=bind, data_id=data_id, kwargs=kwargs)
    found: dict[str, Counter[tuple[Any, ...]]] = {}
    for s in stored:
        required = s.dataset_type.dimensions.required
        refs = query_datasets(registry, [s.dataset_type.name], leaves, where=where, bind=bind, data_id=data_id,
                              kwargs=kwargs)  # fmt: skip
        found[s.dataset_type.name] = Counter(tuple(ref.data_id[d] for d in required) for ref in refs)
    table = CompletenessTable(tuple(group.names), tuple(names))
    keys = {n: s.dataset_type.dimensions.required for n, s in zip(names, stored, strict=True)}
    for coord in ids:
        counts = {n: found[n][tuple(coord[d] for d in keys[n])] for n in names}
        table.rows.append(CompletenessRow(coord, counts))
    return table
