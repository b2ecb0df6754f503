"""Dataset types: a name, the dimensions of its data IDs, a storage class, whether it is a calibration, and
optionally the file format its datasets are written in."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from skybutler.errors import DatasetTypeError

if TYPE_CHECKING:
    from skybutler.dimensions import DimensionGroup, DimensionUniverse

__all__ = ["DatasetType"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?\Z")
_FORMAT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}\Z")
#: Longest parent name: the registry's ``dataset_type.name`` column (PostgreSQL refuses longer; SQLite would not).
_MAX_NAME_LENGTH = 128


class DatasetType:
    """What kind of dataset something is: ``calexp`` with (instrument, visit, detector) as ``Exposure``.

    A name with a dot (``calexp.wcs``) names a *component* of its parent type.  Dataset types compare equal
    when name, dimensions, storage class and calibration flag are all equal.

    ``format`` is an optional formatter short name (``"hdf5"``, ``"fits"``, ``"parquet"``) that new datasets
    of this type are written in, whatever the repository configuration says.  It is a storage choice, not part
    of what the datasets *are*, so it takes no part in equality: a type built without it still names the same
    datasets (a caller need not repeat the format to `put` or `ingest`).  The registry compares formats itself
    when a type is registered again.

    Examples
    --------
    >>> from skybutler.dimensions import DimensionUniverse
    >>> t = DatasetType("meta", ["visit", "detector"], "StructuredDataDict", universe=DimensionUniverse.default())
    >>> t.dimensions.required
    ('instrument', 'detector', 'visit')
    >>> src = DatasetType("src", ["visit"], "AstropyTable", universe=DimensionUniverse.default(), format="hdf5")
    >>> src.describe()
    'src(instrument, visit) as AstropyTable in hdf5'
    """

    __slots__ = ("dimensions", "format", "is_calibration", "name", "storage_class")

    name: str
    dimensions: DimensionGroup
    storage_class: str
    is_calibration: bool
    format: str | None
    """Formatter short name chosen for this type at registration, or ``None``: the configuration decides."""

    def __init__(
        self,
        name: str,
        dimensions: Iterable[str] | DimensionGroup,
        storage_class: str,
        *,
        universe: DimensionUniverse | None = None,
        is_calibration: bool = False,
        format: str | None = None,
    ) -> None:
        if not _NAME.match(str(name)) or type(name) is not str:  # callers without type checking
            raise DatasetTypeError(
                f"Invalid dataset type name {name!r}: use letters, digits and underscores, not starting with "
                "a digit, with at most one '.' before a component name."
            )
        parent_length = len(name.partition(".")[0])
        if parent_length > _MAX_NAME_LENGTH:
            raise DatasetTypeError(
                f"Invalid dataset type name {name[:40]!r}...: {parent_length} characters long, at most "
                f"{_MAX_NAME_LENGTH} are allowed; give a shorter name."
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
        if format is not None and (type(format) is not str or not _FORMAT.match(format)):
            raise DatasetTypeError(
                f"Dataset type {name!r}: format {format!r} is not a formatter name; give a short name such as "
                "'fits', 'hdf5' or 'parquet'."
            )
        self.is_calibration = bool(is_calibration)
        self.format = format

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
        fmt = f" in {self.format}" if self.format is not None else ""
        return f"{self.name}({', '.join(self.dimensions.required)}) as {self.storage_class}{fmt}{calib}"

    def _key(self) -> tuple[object, ...]:
        return (self.name, self.dimensions.names, self.storage_class, self.is_calibration)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetType) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"DatasetType({self.describe()})"
