"""Explanations of failed writes and missed lookups, from the registry alone (no file I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from skybutler.dimensions import normalize_data_id
from skybutler.errors import ConflictError, DataIdError, DatasetNotFoundError
from skybutler.registry._data_ids import hint_text

if TYPE_CHECKING:
    from skybutler.dimensions import DataCoordinate, DimensionUniverse
    from skybutler.registry._collections import CollectionRecord, Collections
    from skybutler.registry._data_ids import DataIdResolver
    from skybutler.registry._dataset_types import StoredDatasetType
    from skybutler.registry._datasets import Datasets
    from skybutler.registry._misses import MissFacts

__all__ = ["explain_insert_failure", "explain_missing", "is_unique_violation"]


def is_unique_violation(exc: sa.exc.IntegrityError) -> bool:
    """Whether a driver integrity error is a uniqueness (not a foreign-key) failure."""
    code = getattr(exc.orig, "sqlstate", None)
    if code is not None:
        return bool(code == "23505")
    return "UNIQUE" in str(exc.orig).upper()


def explain_insert_failure(
    datasets: Datasets,
    resolver: DataIdResolver,
    stored: StoredDatasetType,
    run: CollectionRecord,
    data_ids: Sequence[DataCoordinate],
    exc: sa.exc.IntegrityError,
) -> ConflictError | DataIdError:
    """Turn a refused dataset insert into the error that says which dataset or record is at fault."""
    name = stored.dataset_type.name
    if is_unique_violation(exc):
        for data_id in data_ids:
            found = datasets.find(stored, [run.id], data_id.required_values)
            if found is not None:
                return ConflictError(
                    f"Run {run.name!r} already has a {name!r} dataset with data ID {data_id} (id {found.id}); "
                    "remove it first, or put into another run."
                )
        seen: set[DataCoordinate] = set()
        for data_id in data_ids:
            if data_id in seen:
                return ConflictError(f"The data ID {data_id} appears twice in one put_many call.")
            seen.add(data_id)
        return ConflictError(f"A dataset ID is already registered: {exc.orig}")
    for data_id in data_ids:
        try:
            given = normalize_data_id(resolver.universe, data_id, None)
            resolver.complete(data_id.group, given, expand=True)
        except DataIdError as err:
            return DataIdError(f"Cannot put {name!r}: {err}")
    return DataIdError(f"Cannot put {name!r}: {exc.orig}")


def explain_missing(
    collections: Collections,
    universe: DimensionUniverse,
    stored: StoredDatasetType,
    data_id: DataCoordinate,
    searched: Sequence[str],
    facts: MissFacts,
) -> DatasetNotFoundError:
    """Say why a lookup found nothing (from ``facts``, read in one statement): where else the dataset is, or
    which record is unknown (parents first, with a few known values as a hint)."""
    message = f"No {stored.dataset_type.name!r} dataset with data ID {data_id} in collections {list(searched)}."
    if facts.holders:
        elsewhere = sorted(collections.by_id(c).name for c in facts.holders)
        return DatasetNotFoundError(f"{message} It exists in {elsewhere}; add one of them to collections=.")
    values = dict(data_id.required)
    for name in data_id.group.required:
        element = universe[name]
        if element.is_skypix or name in facts.known:
            continue
        key = {d: values[d] for d in element.required}
        where = {p: values[p] for p in element.parents if p in values}
        hint = hint_text(name, where, facts.hints.get(name, [])) if element.is_dimension else ""
        return DatasetNotFoundError(f"{message} No {name} record for {key}.{hint}")
    return DatasetNotFoundError(f"{message} No collection has it.")
