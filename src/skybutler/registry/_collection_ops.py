"""Operations on collections that span several managers: tagging, certifying, removing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from skybutler.errors import CollectionError, ConflictError, DatasetTypeError
from skybutler.registry._collections import CollectionRecord, CollectionType
from skybutler.registry._pg_writes import own_begin

if TYPE_CHECKING:
    from skybutler.datasets import DatasetRef
    from skybutler.dimensions import Timespan
    from skybutler.registry._dataset_types import StoredDatasetType
    from skybutler.registry._registry import Registry

__all__ = ["associate", "certify", "decertify", "disassociate", "remove_collection"]


def _require(registry: Registry, name: str, kind: CollectionType, action: str) -> CollectionRecord:
    record = registry.collections.get(name)
    if record.type is not kind:
        raise CollectionError(f"Cannot {action} {name!r}: it is a {record.type.name} collection, not {kind.name}.")
    return record


def _by_type(registry: Registry, refs: Iterable[DatasetRef]) -> dict[str, tuple[StoredDatasetType, list[DatasetRef]]]:
    groups: dict[str, tuple[StoredDatasetType, list[DatasetRef]]] = {}
    for ref in refs:
        name = ref.dataset_type.parent_name
        if name not in groups:
            groups[name] = (registry.dataset_types.get(name), [])
        groups[name][1].append(ref)
    return groups


def associate(registry: Registry, collection: str, refs: Iterable[DatasetRef]) -> None:
    """Tag datasets into a TAGGED collection (one per dataset type and data ID)."""
    record = _require(registry, collection, CollectionType.TAGGED, "tag datasets into")
    with registry.db.transaction():
        for stored, group in _by_type(registry, refs).values():
            _check_one_per_data_id(collection, stored, group)
            try:
                registry.datasets.associate(stored, record.id, [(r.id, r.data_id.required_values) for r in group])
            except sa.exc.IntegrityError:
                raise ConflictError(
                    f"{collection!r} already holds another {stored.dataset_type.name!r} dataset with one of these "
                    "data IDs; disassociate it first (a TAGGED collection has one dataset per type and data ID)."
                ) from None


def _check_one_per_data_id(collection: str, stored: StoredDatasetType, refs: Sequence[DatasetRef]) -> None:
    """Refuse two datasets of one data ID among the refs of one `associate` call.

    The database would refuse them too, but its error reads as a clash with the collection's contents
    (advising to disassociate), while the clash is in the call itself.
    """
    seen: dict[tuple[object, ...], DatasetRef] = {}
    for ref in refs:
        other = seen.setdefault(ref.data_id.required_values, ref)
        if other.id != ref.id:
            raise ConflictError(
                f"Cannot tag both {other.id} (run {other.run!r}) and {ref.id} (run {ref.run!r}) into "
                f"{collection!r}: they are {stored.dataset_type.name!r} datasets of the same data ID "
                f"{dict(ref.data_id.required)}, and a TAGGED collection holds one per type and data ID; "
                "pick one."
            )


def disassociate(registry: Registry, collection: str, refs: Iterable[DatasetRef]) -> int:
    """Remove datasets from a TAGGED collection; return how many were there."""
    record = _require(registry, collection, CollectionType.TAGGED, "untag datasets from")
    removed = 0
    with registry.db.transaction():
        for stored, group in _by_type(registry, refs).values():
            removed += registry.datasets.disassociate(stored, record.id, [r.id for r in group])
    return removed


def certify(
    registry: Registry, collection: str, refs: Iterable[DatasetRef], valid: Timespan, *, replace: bool = False
) -> int:
    """Certify calibration datasets over ``valid``; return the transaction time (TAI ns)."""
    record = _require(registry, collection, CollectionType.CALIBRATION, "certify into")
    groups = _by_type(registry, refs)
    now = 0
    # PostgreSQL: the first type's BEGIN, lock and check go in one round trip (`own_begin`, `lock_and_read`),
    # the last type's new rows and the COMMIT in another (`Database.insert_at_commit`)
    with own_begin(registry.db), registry.db.transaction():
        for i, (stored, group) in enumerate(groups.values(), 1):
            _check_calibration(stored)
            items = [(r.id, r.data_id.required_values) for r in group]
            now = registry.calibrations.certify(
                stored, record.id, record.name, items, valid, replace=replace, last=i == len(groups)
            )
    return now


def decertify(
    registry: Registry,
    collection: str,
    dataset_type: str,
    valid: Timespan,
    data_ids: Sequence[tuple[object, ...]] | None = None,
) -> int:
    """Close certifications of ``dataset_type`` over ``valid``; return how many rows were closed."""
    record = _require(registry, collection, CollectionType.CALIBRATION, "decertify in")
    stored = registry.dataset_types.get(dataset_type)
    _check_calibration(stored)
    return registry.calibrations.decertify(stored, record.id, valid, data_ids)  # type: ignore[arg-type]


def _check_calibration(stored: StoredDatasetType) -> None:
    if not stored.dataset_type.is_calibration:
        raise DatasetTypeError(
            f"{stored.dataset_type.name!r} is not a calibration dataset type; register it with "
            "is_calibration=True to certify its datasets."
        )


def remove_collection(registry: Registry, name: str) -> None:
    """Remove a TAGGED, CHAINED or CALIBRATION collection: its associations go, its datasets stay.

    Raises
    ------
    CollectionError
        ``name`` is a RUN (remove runs with the butler, which deletes their files) or a chain lists it.
    """
    record = registry.collections.get(name)
    if record.type is CollectionType.RUN:
        raise CollectionError(
            f"{name!r} is a RUN: removing it removes its datasets and files; use butler.collections.remove_runs()."
        )
    with registry.db.transaction():
        if record.type is CollectionType.TAGGED:
            registry.datasets.clear_collection(registry.dataset_types.all(), record.id)
        registry.collections.remove(name)
