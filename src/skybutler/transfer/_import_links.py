"""Helpers of an import's transaction that read what it links to: the datasets its tags and certifications
name, the certifications already current, and the records of key-only dimensions derived from implied values."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skybutler.datasets import DatasetRef
from skybutler.dimensions import DataCoordinate, DimensionRecord

if TYPE_CHECKING:
    from skybutler.datasets import DatasetType
    from skybutler.dimensions import Timespan
    from skybutler.errors import ExportFormatError
    from skybutler.registry import Registry
    from skybutler.transfer._import_plan import ImportPlan

__all__ = ["current_certifications", "derived_records", "refs_for_associations"]


def refs_for_associations(
    registry: Registry,
    plan: ImportPlan,
    dataset_type: Callable[[str], DatasetType],
    error: Callable[[tuple[str | int, ...], str], ExportFormatError],
) -> dict[uuid.UUID, DatasetRef]:
    """The refs of every dataset the plan's tags and certifications name: from the file, else the repository.

    ``dataset_type`` finds a dataset type by name; ``error`` makes the error for a place in the file.
    """
    wanted: dict[uuid.UUID, tuple[str | int, ...]] = {}
    for tags in plan.tagged.values():
        wanted.update((i, tuple(loc)) for i, loc in tags)
    for ranges in plan.certified.values():
        for _, ids, loc in ranges:
            wanted.update((i, tuple(loc)) for i in ids)
    refs: dict[uuid.UUID, DatasetRef] = {}
    missing: list[uuid.UUID] = []
    for dataset_id in wanted:
        entry = plan.datasets.get(dataset_id)
        if entry is None:
            missing.append(dataset_id)
            continue
        found = dataset_type(entry.dataset_type)
        coord = DataCoordinate.from_required(found.dimensions, entry.values)
        refs[dataset_id] = DatasetRef(dataset_id, found, coord, entry.run)
    if missing:  # skipped as existing, or only in the repository already
        for stored in registry.dataset_types.all():
            for row in registry.datasets.by_ids([stored], missing):
                coord = DataCoordinate.from_required(stored.dataset_type.dimensions, row.values)
                run = registry.collections.by_id(row.run_id).name
                refs[row.id] = DatasetRef(row.id, stored.dataset_type, coord, run)
        unknown = [i for i in missing if i not in refs]
        if unknown:
            raise error(
                wanted[unknown[0]],
                f"dataset {unknown[0]} is associated here but is neither in the file nor in the repository.",
            )
    return refs


def current_certifications(
    registry: Registry, collection_id: int, type_names: set[str]
) -> set[tuple[uuid.UUID, Timespan]]:
    """(dataset ID, validity range) of the current certifications of these dataset types in a collection."""
    out: set[tuple[uuid.UUID, Timespan]] = set()
    for name in type_names:
        stored = registry.dataset_types.get(name)
        if stored.calibs is not None:
            rows = registry.calibrations.history(stored, collection_id)
            out.update((r.dataset_id, r.valid) for r in rows if r.recorded.end is None)
    return out


def derived_records(universe: Any, records: dict[str, list[DimensionRecord]]) -> dict[str, list[DimensionRecord]]:
    """Records of key-only dimensions (``band``) that the reference keeps no table for: from implied values."""
    out: dict[str, list[DimensionRecord]] = {}
    for name, recs in records.items():
        for implied in universe[name].implies:
            target = universe[implied]
            if target.requires or target.record_fields() != (target.primary_key.name,) or implied in records:
                continue
            values = {r.get(implied) for r in recs} - {None}
            have = {r.values[0] for r in out.get(implied, [])}
            out.setdefault(implied, []).extend(DimensionRecord(target, (v,)) for v in sorted(values - have, key=str))
    return out
