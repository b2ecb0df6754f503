"""Dataset types: a name, the dimensions of its data IDs, a storage class, and whether it is a calibration."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from skybutler.errors import DatasetTypeError

if TYPE_CHECKING:
    from skybutler.dimensions import DimensionGroup, DimensionUniverse

__all__ = ["DatasetType"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?\Z")


class DatasetType:
    """What kind of dataset something is: ``calexp`` with (instrument, visit, detector) as ``Exposure``.

    A name with a dot (``calexp.wcs``) names a *component* of its parent type.  Dataset types compare equal
    when name, dimensions, storage class and calibration flag are all equal.

    Examples
    --------
    >>> from skybutler.dimensions import DimensionUniverse
    >>> t = DatasetType("meta", ["visit", "detector"], "StructuredDataDict", universe=DimensionUniverse.default())
    >>> t.dimensions.required
    ('instrument', 'detector', 'visit')
    """

    __slots__ = ("dimensions", "is_calibration", "name", "storage_class")

    name: str
    dimensions: DimensionGroup
    storage_class: str
    is_calibration: bool

    def __init__(
        self,
        name: str,
        dimensions: Iterable[str] | DimensionGroup,
        storage_class: str,
        *,
        universe: DimensionUniverse | None = None,
        is_calibration: bool = False,
    ) -> None:
        if not _NAME.match(str(name)) or type(name) is not str:  # callers without type checking
            raise DatasetTypeError(
                f"Invalid dataset type name {name!r}: use letters, digits and underscores, not starting with "
                "a digit, with at most one '.' before a component name."
            )
        from skybutler.dimensions import DimensionGroup

        if isinstance(dimensions, DimensionGroup):
            group = dimensions
        else:
            if universe is None:
                raise DatasetTypeError(f"Dataset type {name!r}: dimensions given by name need a universe.")
            if isinstance(dimensions, str):
                raise DatasetTypeError(
                    f"Dataset type {name!r}: give dimensions as a list, e.g. [{dimensions!r}], not a string."
                )
            group = universe.group(dimensions)
        if not storage_class or type(storage_class) is not str:
            raise DatasetTypeError(f"Dataset type {name!r}: the storage class must be a non-empty name.")
        self.name = name
        self.dimensions = group
        self.storage_class = storage_class
        self.is_calibration = bool(is_calibration)

    @property
    def parent_name(self) -> str:
        """The name without any component."""
        return self.name.partition(".")[0]

    @property
    def component(self) -> str | None:
        """The component name, or ``None`` for a parent type."""
        return self.name.partition(".")[2] or None

    def describe(self) -> str:
        """A one-line description for messages."""
        calib = ", calibration" if self.is_calibration else ""
        return f"{self.name}({', '.join(self.dimensions.required)}) as {self.storage_class}{calib}"

    def _key(self) -> tuple[object, ...]:
        return (self.name, self.dimensions.names, self.storage_class, self.is_calibration)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetType) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"DatasetType({self.describe()})"
