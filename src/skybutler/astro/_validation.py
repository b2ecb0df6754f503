"""Data-model checks run on put: required metadata keys, required columns, column units.

A dataset type may name a data model in the datastore configuration (``datastore.data_models``); an object
that breaks it is refused before any byte is written, with every problem listed at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from skybutler.astro._tables import TableSchema, column_names, table_kind
from skybutler.errors import FormatterError

__all__ = ["data_model_problems", "object_metadata"]


def object_metadata(obj: Any) -> Mapping[str, Any] | None:
    """The metadata mapping of an astronomy object or table, or ``None`` when it has none."""
    if isinstance(obj, Mapping):
        return obj
    metadata = getattr(obj, "metadata", None)
    if isinstance(metadata, Mapping):
        return metadata
    try:
        kind = table_kind(obj)
    except FormatterError:
        return None
    if kind == "astropy":
        return dict(obj.meta)
    if kind == "pandas":
        return dict(obj.attrs)
    if kind == "arrow":
        from skybutler.astro._conversions import meta_from_arrow

        return meta_from_arrow(obj.schema.metadata)
    return None


def _columns_and_units(obj: Any) -> tuple[list[str], dict[str, str | None]] | None:
    if hasattr(obj, "flux") and hasattr(obj, "wavelength"):  # a Spectrum
        names = ["flux", "wavelength"] + ([] if obj.mask is None else ["mask"])
        return names, {"flux": obj.flux_unit, "wavelength": obj.wavelength_unit}
    try:
        table_kind(obj)
    except FormatterError:
        return None
    schema = TableSchema.of(obj)
    return column_names(obj), {c.name: c.unit for c in schema.columns}


def _same_unit(actual: str, expected: str) -> bool:
    if actual == expected:
        return True
    try:
        from astropy import units
    except ImportError:
        return False
    try:
        return bool(units.Unit(actual) == units.Unit(expected))
    except ValueError:
        return False


def data_model_problems(
    obj: Any,
    *,
    required_keys: Iterable[str] = (),
    required_columns: Iterable[str] = (),
    units: Mapping[str, str] | None = None,
) -> list[str]:
    """Return what is wrong with ``obj`` under a data model (an empty list when nothing is).

    Examples
    --------
    >>> data_model_problems({"EXPTIME": 30.0}, required_keys=["EXPTIME", "FILTER"])
    ["missing metadata key 'FILTER' (has ['EXPTIME'])"]
    """
    problems: list[str] = []
    keys = list(required_keys)
    if keys:
        metadata = object_metadata(obj)
        if metadata is None:
            problems.append(f"a {type(obj).__name__} has no metadata, but keys {keys} are required")
        else:
            problems += [f"missing metadata key {k!r} (has {list(metadata)})" for k in keys if k not in metadata]
    columns = list(required_columns)
    if columns or units:
        found = _columns_and_units(obj)
        if found is None:
            problems.append(f"a {type(obj).__name__} has no columns, but columns/units are required")
            return problems
        names, actual_units = found
        problems += [f"missing column {c!r} (has {names})" for c in columns if c not in names]
        for column, unit in (units or {}).items():
            if column not in names:
                if column not in columns:
                    problems.append(f"missing column {column!r} (has {names}), which must be in {unit!r}")
                continue
            actual = actual_units.get(column)
            if actual is None or not _same_unit(actual, unit):
                problems.append(f"column {column!r} is in {actual!r}, not {unit!r}")
    return problems
