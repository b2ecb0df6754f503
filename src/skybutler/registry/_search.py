"""Find-first lookups along a search path that may mix RUN, TAGGED and CALIBRATION collections."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from skybutler.registry._collections import CollectionRecord, CollectionType
from skybutler.registry._datasets import DatasetRow

if TYPE_CHECKING:
    from skybutler.dimensions import DataIdValue
    from skybutler.registry._calibrations import Calibrations
    from skybutler.registry._dataset_types import StoredDatasetType
    from skybutler.registry._datasets import Datasets

__all__ = ["find_first"]


def find_first(
    datasets: Datasets,
    calibrations: Calibrations,
    stored: StoredDatasetType,
    leaves: Sequence[CollectionRecord],
    values: tuple[DataIdValue, ...],
    *,
    at: int | None = None,
    as_of: int | None = None,
) -> DatasetRow | None:
    """Return the dataset of ``stored`` with data ID ``values`` in the first collection that has it.

    Consecutive RUN/TAGGED collections are searched with one statement; a CALIBRATION collection is asked
    for the dataset valid at ``at`` as recorded at ``as_of`` (None: now).  CALIBRATION collections hold only
    calibration dataset types, so they are skipped for the others.

    Raises
    ------
    DataIdError
        A CALIBRATION collection was searched with no valid time, and several datasets are certified there.
    """
    batch: list[int] = []
    for record in leaves:
        if record.type is not CollectionType.CALIBRATION:
            batch.append(record.id)
            continue
        if batch:
            found = datasets.find(stored, batch, values)
            if found is not None:
                return found
            batch = []
        if stored.calibs is None:
            continue
        # with no time, the one dataset certified for the data ID (the reference's answer), or an error
        # naming the validity ranges when several are
        certified = calibrations.find(stored, record.id, values, at, as_of)
        if certified is not None:
            return DatasetRow(certified[0], stored.id, record.id, int(certified[1]), values, certified[2])
    if batch:
        return datasets.find(stored, batch, values)
    return None
