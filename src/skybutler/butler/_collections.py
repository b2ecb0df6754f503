"""`DirectButlerCollections`: ``butler.collections`` of a `DirectButler`, on the registry itself."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from skybutler.butler._collections_interface import ButlerCollections
from skybutler.datasets import DatasetRef
from skybutler.dimensions import Timespan, tai_ns_to_iso, to_tai_ns
from skybutler.errors import CollectionError, DataIdError, PermissionDeniedError
from skybutler.registry import CollectionRecord, CollectionType
from skybutler.registry._calibrations import CalibrationChange, CertificationRow, tai_now
from skybutler.registry._collection_ops import associate, certify, decertify, disassociate, remove_collection

if TYPE_CHECKING:
    from skybutler.butler._direct import DirectButler
    from skybutler.types import DataIdLike, Progress, TimeLike

__all__ = ["CalibrationChange", "CertificationRow", "DirectButlerCollections"]

TimespanLike = Timespan | tuple[Any, Any]


def as_timespan(value: TimespanLike) -> Timespan:
    """A `Timespan`, or a ``(begin, end)`` pair of any accepted time forms (None: unbounded)."""
    if isinstance(value, Timespan):
        return value
    begin, end = value
    return Timespan.from_times(begin, end)


def _non_empty(span: Timespan, why: str) -> Timespan:
    """``span``, refused when it holds no instant (``[t, t)``).

    An empty range is a mistake in both directions: certifying it records nothing valid, and decertifying it
    would still split every row around ``t`` (closed and re-appended unchanged) and report them as withdrawn.
    """
    if span.is_empty:
        assert span.begin is not None
        iso = tai_ns_to_iso(span.begin)
        raise DataIdError(f"The validity range [{iso}, {iso}) TAI is empty: {why} (give an end after the begin).")
    return span


def as_collection_type(value: CollectionType | str) -> CollectionType:
    """A `CollectionType` from itself or its name in any case; an unknown name is a `CollectionError`.

    (Indexing the enum directly let a typo such as ``"TAGGD"`` escape as a bare ``KeyError``.)
    """
    if isinstance(value, CollectionType):
        return value
    try:
        return CollectionType[str(value).upper()]
    except KeyError:
        known = ", ".join(t.name for t in CollectionType)
        raise CollectionError(f"Unknown collection type {value!r}; use one of {known}.") from None


class DirectButlerCollections(ButlerCollections):
    """Collection management of one `DirectButler` (`ButlerCollections` documents every method)."""

    def __init__(self, butler: DirectButler) -> None:
        self._butler = butler
        self._registry = butler.registry

    def _writeable(self) -> None:
        if not self._butler.writeable:
            raise PermissionDeniedError("This butler is read-only; open it with writeable=True to change collections.")

    # -- lifecycle ------------------------------------------------------------------------------------------
    def register(self, name: str, type: CollectionType | str = "TAGGED", *, doc: str | None = None) -> bool:
        self._writeable()
        return self._registry.collections.register(name, as_collection_type(type), doc)[1]

    def get(self, name: str) -> CollectionRecord:
        return self._registry.collections.get(name)

    def set_doc(self, name: str, doc: str | None) -> None:
        self._writeable()
        self._registry.collections.set_doc(name, doc)

    def query(
        self,
        pattern: str | Iterable[str] = "*",
        *,
        types: CollectionType | str | Iterable[CollectionType | str] | None = None,
        flatten_chains: bool = False,
    ) -> list[CollectionRecord]:
        if isinstance(types, CollectionType | str):
            types = [types]  # one type: not the letters of its name
        kinds = None if types is None else [as_collection_type(t) for t in types]
        found = self._registry.collections.query(pattern, kinds)
        if not flatten_chains:
            return found
        return self._registry.collections.flatten([r.name for r in found])

    def remove(self, name: str) -> None:
        self._writeable()
        remove_collection(self._registry, name)

    def remove_runs(self, names: Iterable[str], *, progress: Progress | None = None, even_if_used: bool = False) -> int:
        self._writeable()
        names = list(names)
        for name in names:  # check every run before deleting anything: a refusal must leave all datasets in place
            record = self._registry.collections.get(name)
            if record.type is not CollectionType.RUN:
                raise CollectionError(f"{name!r} is a {record.type.name} collection, not a RUN; use remove().")
            parents = self._registry.collections.parents(name)
            if parents:
                raise CollectionError(
                    f"Run {name!r} is a child of {parents}; remove it from those chains first (nothing was removed)."
                )
        by_run = {
            name: [
                ref
                for stored in self._registry.dataset_types.all()
                for ref in self._butler.query_datasets_in_run(stored.dataset_type.name, name)
            ]
            for name in names
        }
        if not even_if_used:  # the runs together: one run may use another's datasets
            from skybutler.butler._provenance import refuse_used

            refuse_used(self._registry, [ref.id for refs in by_run.values() for ref in refs])
        removed = 0
        if progress is not None:
            progress("remove-runs", 0, len(names))
        for done, name in enumerate(names, 1):
            removed += self._butler.remove(by_run[name], even_if_used=True)
            self._registry.collections.remove(name)
            if progress is not None:
                progress("remove-runs", done, len(names))
        return removed

    # -- chains ----------------------------------------------------------------------------------------------
    def set_chain(self, name: str, children: Sequence[str]) -> None:
        self._writeable()
        collections = self._registry.collections
        try:
            with self._registry.db.transaction():
                if collections.find(name) is None:
                    collections.register(name, CollectionType.CHAINED)
                collections.set_chain(name, children)
        except BaseException:
            collections.forget_cached()  # the chain registered above may have been rolled back
            raise

    def children(self, name: str) -> list[str]:
        return self._registry.collections.children(name)

    def flatten(self, names: str | Sequence[str]) -> list[str]:
        return [r.name for r in self._registry.collections.flatten([names] if isinstance(names, str) else names)]

    # -- TAGGED ----------------------------------------------------------------------------------------------
    def associate(self, name: str, refs: Iterable[DatasetRef]) -> None:
        self._writeable()
        associate(self._registry, name, refs)

    def disassociate(self, name: str, refs: Iterable[DatasetRef]) -> int:
        self._writeable()
        return disassociate(self._registry, name, refs)

    # -- CALIBRATION ------------------------------------------------------------------------------------------
    def certify(
        self, name: str, refs: Iterable[DatasetRef], valid: Timespan | tuple[Any, Any], *, replace: bool = False
    ) -> int:
        self._writeable()
        span = _non_empty(as_timespan(valid), "a certification must cover some time")
        return certify(self._registry, name, refs, span, replace=replace)

    def decertify(
        self,
        name: str,
        dataset_type: str,
        valid: Timespan | tuple[Any, Any],
        *,
        data_ids: Iterable[DataIdLike] | None = None,
    ) -> int:
        self._writeable()
        stored = self._registry.dataset_types.get(dataset_type)
        values = None
        if data_ids is not None:
            values = [self._registry.resolve_data_id(stored.dataset_type, d).required_values for d in data_ids]
        span = _non_empty(as_timespan(valid), "it would withdraw nothing")
        return decertify(self._registry, name, dataset_type, span, values)

    def history(self, name: str, dataset_type: str, data_id: DataIdLike | None = None) -> list[CertificationRow]:
        record, stored = self._calibration(name, dataset_type)
        values = (
            None if data_id is None else self._registry.resolve_data_id(stored.dataset_type, data_id).required_values
        )
        return self._registry.calibrations.history(stored, record.id, values)

    def diff(
        self, name: str, dataset_type: str, since: TimeLike, until: TimeLike | None = None
    ) -> list[CalibrationChange]:
        record, stored = self._calibration(name, dataset_type)
        t1 = to_tai_ns(since)
        t2 = tai_now() if until is None else to_tai_ns(until)
        return self._registry.calibrations.diff(stored, record.id, t1, t2)

    def _calibration(self, name: str, dataset_type: str) -> tuple[CollectionRecord, Any]:
        record = self._registry.collections.get(name)
        if record.type is not CollectionType.CALIBRATION:
            raise CollectionError(f"{name!r} is a {record.type.name} collection, not CALIBRATION.")
        return record, self._registry.dataset_types.get(dataset_type)
