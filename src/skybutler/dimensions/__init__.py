"""The dimension data model: universe, elements, records and data IDs (no SQL, no I/O)."""

from __future__ import annotations

from skybutler.dimensions._coordinate import DataCoordinate, DataIdValue
from skybutler.dimensions._elements import DimensionElement, FieldSpec
from skybutler.dimensions._normalize import DataIdInput, normalize_data_id
from skybutler.dimensions._records import DimensionRecord
from skybutler.dimensions._time import (
    TIMESPAN_MAX,
    TIMESPAN_MIN,
    TaiInstant,
    Timespan,
    db_instant,
    tai_ns_to_iso,
    to_tai_ns,
    utc_ns_to_tai,
)
from skybutler.dimensions._universe import DimensionGroup, DimensionUniverse

__all__ = [
    "TIMESPAN_MAX",
    "TIMESPAN_MIN",
    "DataCoordinate",
    "DataIdInput",
    "DataIdValue",
    "DimensionElement",
    "DimensionGroup",
    "DimensionRecord",
    "DimensionUniverse",
    "FieldSpec",
    "TaiInstant",
    "Timespan",
    "db_instant",
    "normalize_data_id",
    "tai_ns_to_iso",
    "to_tai_ns",
    "utc_ns_to_tai",
]
