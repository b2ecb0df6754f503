"""`DatasetRef`: one stored dataset's identity, and the dataset ID schemes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skybutler.datasets._dataset_type import DatasetType
    from skybutler.dimensions import DataCoordinate

__all__ = ["DatasetIdMode", "DatasetRef", "as_uuid", "dataset_id_maker", "make_dataset_id"]

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
    """Return a new dataset ID by ``mode``.

    The deterministic forms are ``uuid5(namespace, "dataset_type=<name>,<dim>=<value>,...[,run=<run>]")``
    with the required dimensions sorted by name; they must never change, or re-ingest would duplicate.
    """
    return dataset_id_maker(dataset_type.name, data_id.group.required, run, mode)(data_id.required_values)


_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_5 = (5 << 76) | (0x8000 << 48)


def dataset_id_maker(
    dataset_type: str, dimensions: Sequence[str], run: str, mode: DatasetIdMode
) -> Callable[[tuple[Any, ...]], uuid.UUID]:
    """A function making the IDs (by `make_dataset_id`'s rule) of many datasets of one type and run.

    It takes a data ID's values in ``dimensions`` order.  Bulk ingest and import make thousands of IDs per
    call: hashing from a copy of the prepared namespace prefix and setting the UUID's integer directly
    costs about a third of `uuid.uuid5`, for the same IDs.
    """
    if mode is DatasetIdMode.RANDOM:
        return _random_id
    order = sorted(range(len(dimensions)), key=dimensions.__getitem__)
    fields = [f",{dimensions[i]}={{{i}}}" for i in order]  # after the prefix "dataset_type=<name>"
    if mode is DatasetIdMode.DETERMINISTIC:
        fields.append(",run=" + run.replace("{", "{{").replace("}", "}}"))
    template = "".join(fields)
    prefix = hashlib.sha1(_NAMESPACE.bytes + f"dataset_type={dataset_type}".encode(), usedforsecurity=False)
    fmt = template.format
    new = object.__new__
    setter = object.__setattr__

    def make(values: tuple[Any, ...]) -> uuid.UUID:
        hasher = prefix.copy()
        hasher.update(fmt(*values).encode())
        out = new(uuid.UUID)
        setter(out, "int", (int.from_bytes(hasher.digest()[:16]) & _VERSION_MASK) | _VERSION_5)
        setter(out, "is_safe", _SAFE_UNKNOWN)
        return out

    return make


def _random_id(_values: tuple[Any, ...]) -> uuid.UUID:
    return uuid.uuid4()


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
