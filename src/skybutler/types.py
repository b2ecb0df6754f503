"""Accepted input forms, named once."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from skybutler.datasets import DatasetType
    from skybutler.dimensions import DataCoordinate

__all__ = ["CollectionsLike", "DataIdLike", "DatasetTypeLike", "Progress", "TimeLike", "UriLike"]

DataIdLike: TypeAlias = "DataCoordinate | Mapping[str, Any]"
DatasetTypeLike: TypeAlias = "DatasetType | str"
CollectionsLike: TypeAlias = "str | Sequence[str]"
TimeLike: TypeAlias = "datetime.datetime | str | int | Any"  # int: TAI ns; Any: an astropy Time
UriLike: TypeAlias = "str | os.PathLike[str]"
Progress: TypeAlias = "Callable[[str, int, int | None], None]"
"""A progress hook: called as ``progress(phase, done, total)`` (``total`` None when unknown) by every bulk operation
(ingest, import, export, transfer, verify, remove_runs); the CLI turns it into a progress bar."""
