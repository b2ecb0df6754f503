"""`DataCoordinate`: an immutable data ID in one of three explicit states (minimal, full, expanded)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import repeat
from typing import TYPE_CHECKING, Any

from skybutler.errors import DataIdError

if TYPE_CHECKING:
    from skybutler.dimensions._records import DimensionRecord
    from skybutler.dimensions._universe import DimensionGroup

__all__ = ["DataCoordinate", "DataIdValue"]

DataIdValue = int | str


class DataCoordinate(Mapping[str, DataIdValue]):
    """An immutable, hashable data ID for one `DimensionGroup`.

    States:

    * **minimal** -- values for the group's required dimensions only;
    * **full** (``is_full``) -- also the implied dimensions (visit → physical_filter → band);
    * **expanded** (``has_records``) -- full, plus the dimension records of every element of the group.

    As a mapping it holds the required keys, plus the implied ones when full, so ``dict(data_id)`` gives all
    known values.  Equality and hashing use the group and the required values only, so a minimal and a full
    data ID for the same thing are equal.

    Examples
    --------
    >>> from skybutler.dimensions import DimensionUniverse
    >>> group = DimensionUniverse.default().group(["detector"])
    >>> DataCoordinate.from_required(group, ("Cam", 2))
    {instrument: 'Cam', detector: 2}
    """

    __slots__ = ("_hash", "_records", "_values", "group")

    group: DimensionGroup
    _values: tuple[DataIdValue, ...]
    _records: Mapping[str, DimensionRecord | None] | None
    _hash: int

    def __init__(
        self,
        group: DimensionGroup,
        values: tuple[DataIdValue, ...],
        records: Mapping[str, DimensionRecord | None] | None = None,
    ) -> None:
        setter = object.__setattr__
        setter(self, "group", group)
        setter(self, "_values", values)
        setter(self, "_records", records)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Data IDs are immutable; build a new one.")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Data IDs are immutable.")

    # -- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_required(cls, group: DimensionGroup, values: tuple[DataIdValue, ...]) -> DataCoordinate:
        """Build a minimal data ID from values in ``group.required`` order (already validated)."""
        if len(values) != len(group.required):
            raise DataIdError(f"Expected values for {list(group.required)}, got {values!r}.")
        return cls(group, values)

    @classmethod
    def from_full(cls, group: DimensionGroup, values: tuple[DataIdValue, ...]) -> DataCoordinate:
        """Build a full data ID from values in ``group.names`` order (already validated)."""
        if len(values) != len(group.names):
            raise DataIdError(f"Expected values for {list(group.names)}, got {values!r}.")
        return cls(group, values)

    @classmethod
    def from_trusted_rows(cls, group: DimensionGroup, rows: Iterable[tuple[DataIdValue, ...]]) -> list[DataCoordinate]:
        """Build data IDs from value tuples the registry itself returned (``group.required`` or ``group.names``
        order), without checks.

        Queries turn thousands of rows into data IDs per call; this skips ``__init__`` (and its immutability
        guard) and leaves the hash to be computed on first use, which halves the cost per data ID.  The slots
        are set by `map` over the whole list, so the loop runs in C (15 % less again than a Python loop).  Only
        for values that are known to be right: everything else goes through `normalize_data_id` or the
        ``from_*`` constructors.
        """
        values = rows if isinstance(rows, list) else list(rows)
        k = len(values)
        out = list(map(object.__new__, repeat(cls, k)))
        _consume(map(_SET_GROUP, out, repeat(group, k)))
        _consume(map(_SET_VALUES, out, values))
        _consume(map(_SET_RECORDS, out, repeat(None, k)))
        return out

    @classmethod
    def empty(cls, group: DimensionGroup) -> DataCoordinate:
        """The data ID of the empty group (dataset types without dimensions)."""
        return cls(group, ())

    def expanded(self, records: Mapping[str, DimensionRecord | None]) -> DataCoordinate:
        """Return a copy carrying ``records`` (element name → record); the data ID must be full."""
        if not self.is_full:
            raise DataIdError(f"Only a full data ID can carry records; {self} lacks {list(self.group.implied)}.")
        return DataCoordinate(self.group, self._values, records)

    # -- state ------------------------------------------------------------------------------------------------
    @property
    def is_full(self) -> bool:
        """Whether implied dimensions' values are known too."""
        return len(self._values) == len(self.group.names)

    @property
    def has_records(self) -> bool:
        """Whether this data ID is expanded (carries dimension records)."""
        return self._records is not None

    @property
    def universe(self) -> Any:
        """The `DimensionUniverse` of the group."""
        return self.group.universe

    @property
    def required(self) -> dict[str, DataIdValue]:
        """The required dimensions' values."""
        return dict(zip(self.group.required, self._values, strict=False))

    @property
    def required_values(self) -> tuple[DataIdValue, ...]:
        """The required dimensions' values, in ``group.required`` order."""
        return self._values[: len(self.group.required)]

    @property
    def full_values(self) -> tuple[DataIdValue, ...]:
        """All values in ``group.names`` order; only for full data IDs."""
        if not self.is_full:
            raise DataIdError(f"{self} is minimal; expand it to learn {list(self.group.implied)}.")
        return self._values

    @property
    def records(self) -> Mapping[str, DimensionRecord | None]:
        """Element name → record; only for expanded data IDs."""
        if self._records is None:
            raise DataIdError(f"{self} carries no records; use registry.expand_data_id() first.")
        return self._records

    def subset(self, group: DimensionGroup) -> DataCoordinate:
        """Return the data ID restricted to ``group`` (whose dimensions must all be known here)."""
        if group is self.group:
            return self
        known = dict(self)
        try:
            if all(n in known for n in group.names):
                values = tuple(known[n] for n in group.names)
            else:
                values = tuple(known[n] for n in group.required)
        except KeyError as exc:
            raise DataIdError(f"{self} has no value for {exc.args[0]!r}, needed by {group}.") from None
        records = None
        if self._records is not None and len(values) == len(group.names):
            records = {e: self._records.get(e) for e in group.elements}
        return DataCoordinate(group, values, records)

    # -- mapping ---------------------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> DataIdValue:
        group = self.group
        if key in group:
            i = group.index(key)
            if i < len(self._values):
                return self._values[i]
            raise KeyError(f"{key!r} is implied but not known in this minimal data ID; expand it first.")
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.group.names[: len(self._values)])

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DataCoordinate):
            return (
                hash(self) == hash(other)
                and self.group.required == other.group.required
                and self.required_values == other.required_values
            )
        if isinstance(other, Mapping):
            return dict(self) == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:  # computed on first use (most data IDs of a query result are never hashed)
            value = hash((self.group.required, self._values[: len(self.group.required)]))
            object.__setattr__(self, "_hash", value)
            return value

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k}: {v!r}" for k, v in zip(self.group.names, self._values, strict=False)) + "}"

    def __reduce__(self) -> tuple[Any, ...]:
        from skybutler.dimensions._universe import _cached

        text = self.group.universe.text
        return (_rebuild, (_cached, text, tuple(self.group.names), self._values))


# Slot setters, bypassing ``__setattr__`` (which refuses every change once a data ID exists).
_SET_GROUP = DataCoordinate.__dict__["group"].__set__
_SET_VALUES = DataCoordinate.__dict__["_values"].__set__
_SET_RECORDS = DataCoordinate.__dict__["_records"].__set__
_consume: Callable[[Iterable[Any]], None] = deque(maxlen=0).extend
"""Runs an iterator to its end, keeping nothing (the slot setters' ``map`` above)."""


def _rebuild(loader: Any, text: str, names: tuple[str, ...], values: tuple[DataIdValue, ...]) -> DataCoordinate:
    group = loader(text).group(names)
    return DataCoordinate(group, values)
