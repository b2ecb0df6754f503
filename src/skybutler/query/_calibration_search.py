"""A find-first dataset search in CALIBRATION collections with no time: the reference's answer, or an error.

With neither ``at=`` nor an exposure or visit to match validity ranges against, a CALIBRATION collection
answers with every current certification (`QueryBuilder.join_datasets` with ``untimed``).  For a find-first
search that is one dataset per data ID when each data ID has one certified dataset there; when some data ID
has several (over different validity ranges), the search is refused, naming one of them and saying what to
add, as the reference refuses it ("ambiguous calibration validity range match") -- never a silent empty
result, never an arbitrary pick.  Only the data IDs the call's data ID and ``where`` leave are checked. The
check is one grouped SQL statement per calibration dataset type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.errors import DataIdError
from skybutler.query._builder import QueryBuilder, _referenced_dims
from skybutler.query._parser import parse_where
from skybutler.registry import CollectionType

if TYPE_CHECKING:
    from skybutler.dimensions import DataIdInput
    from skybutler.registry import CollectionRecord, Registry, StoredDatasetType

__all__ = ["check_untimed_calibrations", "untimed_check_needed"]


def untimed_check_needed(types: Sequence[StoredDatasetType], leaves: Sequence[CollectionRecord]) -> bool:
    """Whether a find-first search with no time needs `check_untimed_calibrations`: some of the collections are
    CALIBRATION collections and some of the types are calibrations (else the check does nothing, and preparing
    its query would only cost statements: governor inference)."""
    return any(c.type is CollectionType.CALIBRATION for c in leaves) and any(s.calibs is not None for s in types)


def check_untimed_calibrations(
    registry: Registry,
    types: Sequence[StoredDatasetType],
    leaves: Sequence[CollectionRecord],
    given: DataIdInput,
    where: str,
    temporal_element: Callable[..., str | None],
    constrain: Callable[[QueryBuilder], None],
) -> None:
    """Refuse a find-first search with no time in CALIBRATION collections where a data ID it would answer for
    is ambiguous.

    Only the data IDs the search asks about count: ``constrain`` applies the call's data ID and ``where`` to
    the check's own query, so an ambiguous detector 2 does not refuse a search for detector 3 (as the
    reference answers it).

    Raises
    ------
    DataIdError
        Several datasets of a type are certified for one data ID in one of the CALIBRATION collections.
    """
    calib_leaves = [c for c in leaves if c.type is CollectionType.CALIBRATION]
    calibs = {c.id: c.name for c in calib_leaves}
    if not calibs or not any(s.calibs is not None for s in types):
        return
    referenced = set(given.values) | set(given.alternates)
    referenced |= {d for d in _referenced_dims(parse_where(where)) if d in registry.universe}
    for stored in types:
        if stored.calibs is None or temporal_element(registry, stored, leaves, referenced, None) is not None:
            continue
        dims = list(stored.dataset_type.dimensions.required)
        b = QueryBuilder(registry, where)
        sub = b.add_datasets(stored, calib_leaves, untimed=True)
        constrain(b)
        pairs = b.select([sub.c.collection_id, *(sub.c[d] for d in dims), sub.c.dataset_id]).distinct().subquery()
        keys = [pairs.c.collection_id, *(pairs.c[d] for d in dims)]
        stmt = sa.select(*keys).group_by(*keys).having(sa.func.count() > 1).limit(1)
        rows: list[Any] = list(registry.db.stream_rows(stmt))  # a one-off statement (LIMIT 1)
        if rows:
            row = rows[0]
            data_id = dict(zip(dims, row[1:], strict=True))
            raise DataIdError(
                f"Several {stored.dataset_type.name!r} datasets are certified for {data_id} in the CALIBRATION "
                f"collection {calibs[row[0]]!r} over different validity ranges, and the search gives no time: "
                "pass at=... (a time), or constrain an exposure or visit (data ID or where), to choose; or "
                "find_first=False for all of them."
            )
