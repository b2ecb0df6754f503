"""Accepted input forms, named once."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import uuid
    from collections.abc import Iterable

    from skybutler.datasets import DatasetRef, DatasetType
    from skybutler.dimensions import DataCoordinate

__all__ = [
    "CollectionsLike",
    "DataIdLike",
    "DatasetTypeLike",
    "InputsLike",
    "Progress",
    "TimeLike",
    "UriLike",
]

DataIdLike: TypeAlias = "DataCoordinate | Mapping[str, Any]"
DatasetTypeLike: TypeAlias = "DatasetType | str"
CollectionsLike: TypeAlias = "str | Sequence[str]"
TimeLike: TypeAlias = "datetime.datetime | str | int | Any"  # int: TAI ns; Any: an astropy Time
UriLike: TypeAlias = "str | os.PathLike[str]"
InputsLike: TypeAlias = "Iterable[DatasetRef | uuid.UUID | str]"  # what a dataset was made from (refs or IDs)
Progress: TypeAlias = "Callable[[str, int, int | None], None]"
"""A progress hook: called as ``progress(phase, done, total)`` (``total`` None when unknown) by every bulk operation
(ingest, import, export, transfer, verify, remove_runs); the CLI turns it into a progress bar."""
