"""Accepted input forms, named once."""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from skybutler.datasets import DatasetType
    from skybutler.dimensions import DataCoordinate

__all__ = ["CollectionsLike", "DataIdLike", "DatasetTypeLike", "TimeLike", "UriLike"]

DataIdLike: TypeAlias = "DataCoordinate | Mapping[str, Any]"
DatasetTypeLike: TypeAlias = "DatasetType | str"
CollectionsLike: TypeAlias = "str | Sequence[str]"
TimeLike: TypeAlias = "datetime.datetime | str | int | Any"  # int: TAI ns; Any: an astropy Time
UriLike: TypeAlias = "str | os.PathLike[str]"
