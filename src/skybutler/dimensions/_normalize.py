"""Turn user input (a dict, keyword arguments or a DataCoordinate) into checked data ID values.

This is the pure half of normalization: key names are resolved against the universe and values coerced to
the key's type.  What needs records -- alternate keys such as ``detector.full_name``, and implied values
such as a visit's physical_filter -- is resolved by the registry from the `DataIdInput` made here.
The rules are written out for users in ``docs/data-ids.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skybutler.dimensions._coordinate import DataCoordinate, DataIdValue
from skybutler.dimensions._elements import coerce_value
from skybutler.errors import DataIdError

if TYPE_CHECKING:
    from skybutler.dimensions._universe import DimensionGroup, DimensionUniverse

__all__ = ["DataIdInput", "normalize_data_id"]


@dataclass(slots=True)
class DataIdInput:
    """Data ID input after key resolution and type coercion, before any record lookup."""

    universe: DimensionUniverse
    values: dict[str, DataIdValue] = field(default_factory=dict)
    """Dimension name → primary-key value."""
    alternates: dict[str, dict[str, DataIdValue]] = field(default_factory=dict)
    """Dimension name → {alternate key name → value}, resolved to the primary key through records."""

    def dimensions(self) -> set[str]:
        """Every dimension the input names, directly or through an alternate key."""
        return set(self.values) | set(self.alternates)

    def minimal(self, group: DimensionGroup) -> DataCoordinate | None:
        """Return the minimal data ID when the input gives every required value directly, else ``None``."""
        if self.alternates:
            return None
        values = self.values
        try:
            return DataCoordinate(group, tuple([values[name] for name in group.required]))
        except KeyError:
            return None

    def describe(self) -> str:
        """The input as the user gave it, for messages."""
        items = [f"{k}: {v!r}" for k, v in self.values.items()]
        items += [f"{d}.{k}: {v!r}" for d, keys in self.alternates.items() for k, v in keys.items()]
        return "{" + ", ".join(items) + "}"


def normalize_data_id(
    universe: DimensionUniverse,
    data_id: DataCoordinate | Mapping[str, Any] | None,
    kwargs: Mapping[str, Any] | None = None,
    *,
    group: DimensionGroup | None = None,
    what: str = "",
) -> DataIdInput:
    """Resolve key names and coerce values of a data ID given in any accepted form.

    Parameters
    ----------
    universe
        The universe the keys belong to.
    data_id
        A mapping or `DataCoordinate`, or ``None``.
    kwargs
        More keys, given as keyword arguments; a key given in both must have the same value.
    group
        When given (the dimensions of a dataset type), keys outside it are refused.
    what
        The context for messages, e.g. ``"dataset type 'meta'"``.

    Raises
    ------
    DataIdError
        A key is unknown or not part of ``group``, a value is None or has the wrong type, or a key is given
        twice with different values.
    """
    out = DataIdInput(universe)
    if isinstance(data_id, DataCoordinate):
        if kwargs is None and group is not None and data_id.group is group:
            out.values = dict(data_id)
            return out
        items: list[tuple[str, Any]] = list(data_id.items())
    elif data_id is None:
        items = []
    elif isinstance(data_id, Mapping):
        items = list(data_id.items())
    else:
        raise DataIdError(
            f"A data ID must be a mapping or a DataCoordinate, got {type(data_id).__name__}: {data_id!r}."
        )
    if kwargs:
        items.extend(kwargs.items())
    for key, value in items:
        _add(out, universe, group, str(key), value, what)
    return out


def _add(
    out: DataIdInput,
    universe: DimensionUniverse,
    group: DimensionGroup | None,
    key: str,
    value: Any,
    what: str,
) -> None:
    dimension, _, sub = key.partition(".")
    if dimension not in universe or not universe[dimension].is_dimension:
        pool = [d.name for d in universe.dimensions if not d.is_skypix]
        valid = _valid(group)
        raise DataIdError(
            f"Unknown data ID key {key!r}{universe.suggest(dimension, pool)} {valid[:1].upper()}{valid[1:]}"
        )
    if group is not None and dimension not in group:
        raise DataIdError(f"{dimension!r} is not a dimension of {what or 'this data ID'}; {_valid(group)}")
    element = universe[dimension]
    if value is None:
        raise DataIdError(f"The data ID value for {key!r} is None; give a value or leave the key out.")
    if not sub or sub == element.primary_key.name:
        coerced = coerce_value(element.primary_key, value, what=f"Data ID key {key!r}")
        previous = out.values.setdefault(dimension, coerced)
        if previous != coerced:
            raise DataIdError(f"Data ID key {dimension!r} is given twice: {previous!r} and {coerced!r}.")
        return
    for alt in element.alternate_keys:
        if alt.name == sub:
            coerced = coerce_value(alt, value, what=f"Data ID key {key!r}")
            keys = out.alternates.setdefault(dimension, {})
            previous = keys.setdefault(sub, coerced)
            if previous != coerced:
                raise DataIdError(f"Data ID key {key!r} is given twice: {previous!r} and {coerced!r}.")
            return
    names = [k.name for k in element.keys]
    raise DataIdError(
        f"{key!r} is not a key of {dimension!r}; its keys are {names} "
        f"(the first is its value in data IDs, the others are alternate keys)."
    )


def _valid(group: DimensionGroup | None) -> str:
    if group is None:
        return ""
    text = f"valid keys are {list(group.required)}"
    if group.implied:
        text += f" (and, implied by them, {list(group.implied)})"
    return text + "."
