# mypy: disable-error-code="empty-body"
"""The query part of the `Butler` interface: data IDs, datasets, records, completeness, collections, types."""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from skybutler.butler._abstract import interface_method

if TYPE_CHECKING:
    from skybutler.datasets import DatasetRef, DatasetType
    from skybutler.dimensions import DimensionRecord
    from skybutler.query import CompletenessTable, DataIdResults, DatasetResults
    from skybutler.types import CollectionsLike, DataIdLike, DatasetTypeLike, TimeLike

__all__ = ["ButlerQueryInterface"]


class ButlerQueryInterface(ABC):
    """Asking a repository what it holds.  `Butler` inherits these methods; they are part of its one interface.

    Results are values: an empty result is not an error, and says why it is empty where it can.
    """

    @interface_method
    def query_dataset_types(self, pattern: str | Iterable[str] = "*") -> list[DatasetType]:
        """Registered dataset types whose name matches glob pattern(s), sorted by name."""

    # -- queries ---------------------------------------------------------------------------------------------
    @interface_method
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
        """Data IDs of ``dimensions`` that satisfy ``where`` and the data ID (and have ``datasets``, if given).

        Raises
        ------
        QuerySyntaxError
            ``where`` does not parse (the message points at the place).
        DataIdError, DatasetTypeError, CollectionError
            An unknown dimension, dataset type or collection.

        Examples
        --------
        >>> [dict(d) for d in butler.query_data_ids(["visit"], where="visit < 2")]  # doctest: +SKIP
        """

    @interface_method
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
        """Datasets of the given types (names, globs or ``"*"``) in the collections, satisfying the constraints.

        An empty result is a value, not an error: ``results.explain_no_results()`` says why it is empty.  With
        no collections given and no defaults, every RUN is searched (not find-first) and ``results.note``
        says so.

        Raises
        ------
        QuerySyntaxError
            ``where`` does not parse.
        DataIdError, DatasetTypeError, CollectionError
            An unknown dimension, dataset type or collection.
        """

    @interface_method
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
        """Records of ``element`` satisfying the constraints.

        Raises
        ------
        QuerySyntaxError
            ``where`` does not parse.
        DataIdError
            ``element`` or a data ID key is not in the universe.
        """

    @interface_method
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
        """The completeness matrix: for each data ID of ``dimensions``, how many datasets of each type exist.

        Raises
        ------
        CollectionError
            No collections to search, or an unknown one.
        DatasetTypeError, DataIdError, QuerySyntaxError
            An unknown dataset type or dimension, or a bad ``where``.

        Examples
        --------
        >>> table = butler.missing(["calexp", "src"], ["visit", "detector"], where="band = 'r'")  # doctest: +SKIP
        >>> [row.data_id for row in table.incomplete()]  # doctest: +SKIP
        """

    @interface_method
    def query_datasets_in_run(self, dataset_type: DatasetTypeLike, run: str) -> list[DatasetRef]:
        """Every dataset of a type born in a run.

        Raises
        ------
        DatasetTypeError, CollectionError
            The dataset type or the run is unknown.
        """
