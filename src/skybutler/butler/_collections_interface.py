"""`ButlerCollections`: the interface of ``butler.collections``, whichever butler implementation holds it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skybutler.datasets import DatasetRef
    from skybutler.dimensions import Timespan
    from skybutler.registry import CollectionRecord, CollectionType
    from skybutler.registry._calibrations import CalibrationChange, CertificationRow
    from skybutler.types import DataIdLike, Progress, TimeLike

__all__ = ["ButlerCollections"]


class ButlerCollections(ABC):
    """Collection management of one butler (``butler.collections``): lifecycle, chains, tags, certifications.

    Every method that changes something raises `PermissionDeniedError` on a read-only butler.  A validity
    range ``valid`` is a `Timespan` or a ``(begin, end)`` pair of any accepted time forms (None: unbounded).

    Examples
    --------
    >>> butler.collections.register("calib", "CALIBRATION", doc="Certified calibrations")
    True
    """

    # -- lifecycle ------------------------------------------------------------------------------------------
    @abstractmethod
    def register(self, name: str, type: CollectionType | str = "TAGGED", *, doc: str | None = None) -> bool:
        """Create a collection (RUN, TAGGED, CHAINED or CALIBRATION); return whether it was new.

        Raises
        ------
        CollectionError
            The type is unknown, or the name exists with another type.
        """

    @abstractmethod
    def get(self, name: str) -> CollectionRecord:
        """The collection's id, type and documentation.

        Raises
        ------
        CollectionError
            No collection has this name (the message suggests close names).
        """

    @abstractmethod
    def set_doc(self, name: str, doc: str | None) -> None:
        """Replace a collection's documentation string."""

    @abstractmethod
    def query(
        self,
        pattern: str | Iterable[str] = "*",
        *,
        types: CollectionType | str | Iterable[CollectionType | str] | None = None,
        flatten_chains: bool = False,
    ) -> list[CollectionRecord]:
        """Collections matching glob pattern(s) and types; ``flatten_chains`` expands matching chains.

        ``types`` is one type or several, each a `CollectionType` or its name (``types="RUN"``).
        """

    @abstractmethod
    def remove(self, name: str) -> None:
        """Remove a TAGGED, CHAINED or CALIBRATION collection (the datasets stay in their runs).

        Raises
        ------
        CollectionError
            The collection is a RUN (use `remove_runs`), is unknown, or is a child of a chain.
        """

    @abstractmethod
    def remove_runs(self, names: Iterable[str], *, progress: Progress | None = None, even_if_used: bool = False) -> int:
        """Remove RUN collections with all their datasets and files; return how many datasets went.

        Every run is checked before anything is deleted.  ``progress`` is called as
        ``progress("remove-runs", runs_done, runs_total)`` after each run.

        Raises
        ------
        CollectionError
            A name is not a RUN, or the run is a child of a chain (nothing was removed).
        ConflictError
            Datasets of other runs record datasets of these runs as inputs, and ``even_if_used`` is false
            (nothing was removed; with it, the lineage keeps their IDs and dataset types).
        """

    # -- chains ----------------------------------------------------------------------------------------------
    @abstractmethod
    def set_chain(self, name: str, children: Sequence[str]) -> None:
        """Define or redefine the ordered children of a CHAINED collection (created if missing).

        Creation and definition are one transaction: a refused definition (a cycle, an unknown child) does
        not leave a new, empty chain behind.

        Raises
        ------
        CollectionError
            A child is unknown, the definition makes a cycle, or ``name`` is not a chain.
        """

    def extend_chain(self, name: str, children: Sequence[str]) -> None:
        """Append children to the end of a chain."""
        self.set_chain(name, [*self.children(name), *children])

    def remove_from_chain(self, name: str, children: Sequence[str]) -> None:
        """Remove children from a chain."""
        drop = set(children)
        self.set_chain(name, [c for c in self.children(name) if c not in drop])

    @abstractmethod
    def children(self, name: str) -> list[str]:
        """The ordered children of a chain."""

    @abstractmethod
    def flatten(self, names: str | Sequence[str]) -> list[str]:
        """The search path of ``names`` with chains expanded, in order."""

    # -- TAGGED ----------------------------------------------------------------------------------------------
    @abstractmethod
    def associate(self, name: str, refs: Iterable[DatasetRef]) -> None:
        """Tag datasets into a TAGGED collection.

        Raises
        ------
        CollectionError
            The collection is not TAGGED.
        ConflictError
            It holds another dataset of the same type and data ID already.
        """

    @abstractmethod
    def disassociate(self, name: str, refs: Iterable[DatasetRef]) -> int:
        """Untag datasets from a TAGGED collection; return how many were there."""

    # -- CALIBRATION ------------------------------------------------------------------------------------------
    @abstractmethod
    def certify(
        self, name: str, refs: Iterable[DatasetRef], valid: Timespan | tuple[Any, Any], *, replace: bool = False
    ) -> int:
        """Make calibration datasets the ones of record over ``valid`` = ``[begin, end)``; return the transaction time.

        Overlapping a current certification of the same data ID is a `ConflictError` unless ``replace``: then
        the old rows are closed and their parts outside ``valid`` re-appended, in one transaction.

        Raises
        ------
        ConflictError
            The range overlaps a current certification (without ``replace``).
        CollectionError, DatasetTypeError
            The collection is not CALIBRATION, or a dataset type is not a calibration.
        DataIdError
            The range is empty.
        """

    @abstractmethod
    def decertify(
        self,
        name: str,
        dataset_type: str,
        valid: Timespan | tuple[Any, Any],
        *,
        data_ids: Iterable[DataIdLike] | None = None,
    ) -> int:
        """Withdraw certifications over ``valid`` (of ``data_ids``, or all); return how many rows were closed.

        Raises
        ------
        DataIdError
            The range is empty, or a data ID is wrong.
        """

    @abstractmethod
    def history(self, name: str, dataset_type: str, data_id: DataIdLike | None = None) -> list[CertificationRow]:
        """Every certification row (current and closed) of a dataset type in a CALIBRATION collection."""

    @abstractmethod
    def diff(
        self, name: str, dataset_type: str, since: TimeLike, until: TimeLike | None = None
    ) -> list[CalibrationChange]:
        """What was certified, replaced or decertified between two transaction times (``until``: now)."""
