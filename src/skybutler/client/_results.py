"""Query results of the remote butler: lists read from the server's NDJSON stream (`skybutler.wire`).

They behave as the local results do where callers rely on it -- iteration, ``len``, ``count()``, ``any()``,
``explain_no_results()`` and the ``note`` -- but hold their rows: the server has streamed them all already.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from skybutler.datasets import refs_from_rows
from skybutler.dimensions import DataCoordinate, DimensionRecord
from skybutler.wire import QueryHeader, dataset_type_from_wire

if TYPE_CHECKING:
    from skybutler.datasets import DatasetType
    from skybutler.dimensions import DimensionElement, DimensionUniverse

__all__ = ["RemoteDataIdResults", "RemoteDatasetResults", "read_data_ids", "read_datasets", "record_from_wire"]


class _Results(list[Any]):
    """A list with the query's note and explanations."""

    note: str | None = None
    explanations: list[str]

    def count(self, *args: Any, exact: bool = True) -> int:
        """How many rows (``list.count(x)`` still works with an argument)."""
        if args:
            return super().count(args[0])
        return len(self)

    def any(self) -> bool:
        """Whether there is at least one row."""
        return len(self) > 0

    def explain_no_results(self) -> list[str]:
        """Why the result is empty ([] when it is not), as the server's query planner said."""
        if self:
            return []
        reasons = list(self.explanations) or ["No rows match the data ID constraints and the where expression."]
        return ([f"{self.note[0].upper()}{self.note[1:]}."] if self.note else []) + reasons


class RemoteDatasetResults(_Results):
    """Refs found by `RemoteButler.query_datasets`."""


class RemoteDataIdResults(_Results):
    """Data IDs found by `RemoteButler.query_data_ids`."""


def _header(lines: list[bytes]) -> QueryHeader:
    return QueryHeader.model_validate_json(lines[0])


def read_datasets(
    lines: list[bytes], universe: DimensionUniverse, known: dict[str, DatasetType]
) -> RemoteDatasetResults:
    """Refs from a streamed answer (rows ``[*required values, id hex, run index, type index]``), built as the
    registry's own query results are (`refs_from_rows`: no per-ref validation of values the server checked)."""
    header = _header(lines)
    types = []
    for model in header.dataset_types:
        dt = known.get(model.name)
        if dt is None:
            dt = known[model.name] = dataset_type_from_wire(model, universe)
        types.append(dt)
    runs = header.runs
    out = RemoteDatasetResults()
    for line in lines[1:]:
        rows = json.loads(line)
        for t, dt in enumerate(types):
            mine = [row for row in rows if row[-1] == t] if len(types) > 1 else rows
            n = len(dt.dimensions.required)
            out.extend(refs_from_rows(dt, mine, id_at=n, run_at=n + 1, run_name=runs.__getitem__))
    out.note = header.note
    out.explanations = header.explanations
    return out


def read_data_ids(lines: list[bytes], universe: DimensionUniverse) -> RemoteDataIdResults:
    """Data IDs from a streamed answer (rows of values in the header's dimension order)."""
    header = _header(lines)
    out = RemoteDataIdResults()
    if header.dimensions:
        names = header.dimensions
        group = universe.group(names)
        full = list(group.names) == names
        for line in lines[1:]:
            for row in json.loads(line):
                values = tuple(row)
                out.append(
                    DataCoordinate.from_full(group, values) if full else DataCoordinate.from_required(group, values)
                )
    out.note = header.note
    out.explanations = header.explanations
    return out


def record_from_wire(element: DimensionElement, data: dict[str, Any]) -> DimensionRecord:
    """A dimension record from its JSON fields (`skybutler.wire.json_value`)."""
    return DimensionRecord.from_dict(element, data)
