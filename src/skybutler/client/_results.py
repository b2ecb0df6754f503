"""Query results of the remote butler: lists read from the server's NDJSON stream (`skybutler.wire`).

They behave as the local results do where callers rely on it -- iteration, ``len``, ``count()``, ``any()``,
``explain_no_results()`` and the ``note`` -- but hold their rows: the server has streamed them all already.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from skybutler.datasets import DatasetRef, refs_from_rows
from skybutler.dimensions import DataCoordinate, DimensionRecord
from skybutler.query import DataIdResults, DatasetResults
from skybutler.wire import QueryHeader, dataset_type_from_wire

if TYPE_CHECKING:
    from skybutler.datasets import DatasetType
    from skybutler.dimensions import DimensionElement, DimensionGroup, DimensionUniverse

T = TypeVar("T")

_loads: Callable[[bytes], Any] = json.loads
with suppress(ImportError):  # orjson (the http extra) reads the same values about 2x faster
    import orjson

    _loads = orjson.loads


class _Held(Generic[T]):
    """Rows a server streamed, held; what `QueryResults` asks of a result, answered from them."""

    def __init__(self, items: list[T], note: str | None, explanations: list[str]) -> None:
        self._items = items
        self.note = note
        self._explanations = explanations

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> T:
        return self._items[index]

    def __eq__(self, other: object) -> bool:
        """Equal to another result or list with the same rows in the same order."""
        if isinstance(other, _Held):
            return self._items == other._items
        return isinstance(other, list) and self._items == other

    __hash__ = None  # type: ignore[assignment]  # mutable-like: compared by rows

    def count(self, *, exact: bool = True) -> int:
        """How many rows (the server sent them all: exact)."""
        return len(self._items)

    def any(self) -> bool:
        """Whether there is at least one row."""
        return bool(self._items)

    def explain_no_results(self) -> list[str]:
        """Why the result is empty ([] when it is not), as the server's query planner said."""
        if self._items:
            return []
        reasons = list(self._explanations) or ["No rows match the data ID constraints and the where expression."]
        return ([f"{self.note[0].upper()}{self.note[1:]}."] if self.note else []) + reasons


class RemoteDatasetResults(_Held[DatasetRef], DatasetResults):
    """Refs found by `RemoteButler.query_datasets`."""


class RemoteDataIdResults(_Held[DataCoordinate], DataIdResults):
    """Data IDs found by `RemoteButler.query_data_ids`; `expanded` asks the server again, for the records."""

    def __init__(
        self,
        items: list[DataCoordinate],
        group: DimensionGroup,
        note: str | None,
        explanations: list[str],
        expand: Callable[[], list[DataCoordinate]],
    ) -> None:
        super().__init__(items, note, explanations)
        self.group = group
        self._expand = expand

    def expanded(self) -> list[DataCoordinate]:
        """The data IDs with their dimension records (one more round trip)."""
        return self._expand()


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
    out: list[DatasetRef] = []
    for line in lines[1:]:
        rows = [tuple(row) for row in _loads(line)]  # tuples, as the registry's: a data ID's values are hashed
        for t, dt in enumerate(types):
            mine = [row for row in rows if row[-1] == t] if len(types) > 1 else rows
            n = len(dt.dimensions.required)
            out.extend(refs_from_rows(dt, mine, id_at=n, run_at=n + 1, run_name=runs.__getitem__))
    return RemoteDatasetResults(out, header.note, header.explanations)


def read_data_ids(
    lines: list[bytes],
    universe: DimensionUniverse,
    requested: list[str],
    expand: Callable[[], list[DataCoordinate]],
) -> RemoteDataIdResults:
    """Data IDs from a streamed answer (rows of values in the header's dimension order)."""
    header = _header(lines)
    group = universe.group(header.dimensions or requested)
    return RemoteDataIdResults(parse_data_ids(header, lines, universe), group, header.note, header.explanations, expand)


def parse_data_ids(header: QueryHeader, lines: list[bytes], universe: DimensionUniverse) -> list[DataCoordinate]:
    """The data IDs of a streamed answer; with records when the server expanded them (rows ``[values, records]``,
    records by element name, as `record_from_wire` reads them)."""
    out: list[DataCoordinate] = []
    if not header.dimensions:
        return out
    names = header.dimensions
    group = universe.group(names)
    full = list(group.names) == names
    for line in lines[1:]:
        for row in _loads(line):
            if header.kind == "expanded_data_ids":
                values, records = row
                coord = DataCoordinate.from_full(group, tuple(values))
                out.append(coord.expanded({
                    name: None if data is None else record_from_wire(universe[name], data)
                    for name, data in records.items()
                }))  # fmt: skip
            else:
                values = tuple(row)
                out.append(
                    DataCoordinate.from_full(group, values) if full else DataCoordinate.from_required(group, values)
                )
    return out


def record_from_wire(element: DimensionElement, data: dict[str, Any]) -> DimensionRecord:
    """A dimension record from its JSON fields (`skybutler.wire.json_value`)."""
    return DimensionRecord.from_dict(element, data)
