"""`DatasetRef`: one stored dataset's identity, and the dataset ID schemes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skybutler.datasets._dataset_type import DatasetType
    from skybutler.dimensions import DataCoordinate

__all__ = ["DatasetIdMode", "DatasetRef", "as_uuid", "make_dataset_id"]

_SAFE_UNKNOWN = uuid.SafeUUID.unknown


def as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    """A dataset ID as the registry returns it (a UUID, or 32 hex digits on SQLite) → a `uuid.UUID`.

    Queries turn thousands of IDs per call; `uuid.UUID`'s constructor validates every form it accepts and costs
    several times more than setting the integer of a UUID directly, as done here for the one trusted form.
    """
    if isinstance(value, uuid.UUID):
        return value
    if len(value) != 32:
        return uuid.UUID(value)
    out = object.__new__(uuid.UUID)
    object.__setattr__(out, "int", int(value, 16))
    object.__setattr__(out, "is_safe", _SAFE_UNKNOWN)
    return out


#: Namespace of our UUID5 dataset IDs (a fixed random UUID, never to change).
_NAMESPACE = uuid.UUID("6f4b1e52-9d8a-4c1e-8b3f-2a7d5c9e0b11")


class DatasetIdMode(Enum):
    """How a new dataset's ID is made."""

    RANDOM = "random"
    """uuid4: the default for put."""
    DETERMINISTIC = "deterministic"
    """uuid5 of dataset type, data ID and run: re-ingesting the same file gives the same ID."""
    DETERMINISTIC_NO_RUN = "deterministic-no-run"
    """uuid5 of dataset type and data ID only: the same raw in every run gets one ID."""


def make_dataset_id(
    dataset_type: DatasetType, data_id: DataCoordinate, run: str, mode: DatasetIdMode = DatasetIdMode.RANDOM
) -> uuid.UUID:
    """Return a new dataset ID by ``mode``."""
    if mode is DatasetIdMode.RANDOM:
        return uuid.uuid4()
    items = [f"dataset_type={dataset_type.name}"]
    items += [f"{k}={v}" for k, v in sorted(data_id.required.items())]
    if mode is DatasetIdMode.DETERMINISTIC:
        items.append(f"run={run}")
    return uuid.uuid5(_NAMESPACE, ",".join(items))


@dataclass(frozen=True, slots=True)
class DatasetRef:
    """A dataset known to the registry: ID, dataset type, data ID and the RUN it was born in."""

    id: uuid.UUID
    """Random (uuid4) on put; deterministic (uuid5) on request for ingest and import."""
    dataset_type: DatasetType
    data_id: DataCoordinate
    run: str

    def __repr__(self) -> str:
        return f"DatasetRef({self.dataset_type.name}, {self.data_id}, run={self.run!r}, id={self.id})"
