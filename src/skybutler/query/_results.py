"""What a query's results offer, whoever runs the query: the types `Butler.query_data_ids` and
`Butler.query_datasets` return.

The registry's results (`skybutler.query._queries`) run SQL lazily; a remote butler's hold the rows a server
streamed.  Both are these types, so code written against `Butler` uses either without knowing which.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Generic, TypeVar

from skybutler.datasets import DatasetRef
from skybutler.dimensions import DataCoordinate

if TYPE_CHECKING:
    from skybutler.dimensions import DimensionGroup

__all__ = ["DataIdResults", "DatasetResults", "QueryResults"]

T = TypeVar("T")


class QueryResults(ABC, Generic[T]):
    """Results of a query: iterate them, count them, ask whether there are any and, if not, why."""

    note: str | None = None
    """How the query was read, when that is not plain from the call (every RUN searched, say)."""

    _noun = "result(s)"
    _kind = "QueryResults"
    """The name `repr` shows: the interface's, whichever implementation this is."""

    @abstractmethod
    def __iter__(self) -> Iterator[T]:
        """The results, in the query's order."""

    @abstractmethod
    def __len__(self) -> int:
        """The number of results."""

    @abstractmethod
    def count(self, *, exact: bool = True) -> int:
        """Number of results (``exact=False`` may return an upper bound)."""

    @abstractmethod
    def any(self) -> bool:
        """Whether there is at least one result."""

    @abstractmethod
    def explain_no_results(self) -> list[str]:
        """Reasons the result is empty ([] when it is not)."""

    @property
    def planned(self) -> bool:
        """Whether this result ran on a cached query plan of its call's shape (False where that is not known)."""
        return False

    def __bool__(self) -> bool:
        return self.any()

    def __repr__(self) -> str:
        """The results themselves (up to ten), so that ``print(butler.query_datasets(...))`` shows them."""
        first = list(itertools.islice(iter(self), 11))
        total = len(first) if len(first) <= 10 else self.count()
        head = f"{self._kind}: {total} {self._noun}" + (f" ({self.note})" if self.note else "")
        lines = [f"  {item!r}" for item in first[:10]] + (["  ..."] if total > 10 else [])
        return "\n".join([head + (":" if lines else ""), *lines])


class DataIdResults(QueryResults[DataCoordinate]):
    """Data IDs of a query; iterate for `DataCoordinate` objects (full: required and implied values)."""

    _noun = "data ID(s)"
    _kind = "DataIdResults"
    group: DimensionGroup
    """The dimensions of the data IDs."""

    @abstractmethod
    def expanded(self) -> list[DataCoordinate]:
        """The data IDs with their dimension records."""


class DatasetResults(QueryResults[DatasetRef]):
    """Datasets of a query; iterate for `DatasetRef` objects."""

    _noun = "dataset(s)"
    _kind = "DatasetResults"
