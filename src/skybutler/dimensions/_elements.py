"""Dimension elements: the typed description of one table of dimension records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skybutler.errors import DataIdError

__all__ = ["DimensionElement", "FieldSpec", "coerce_value"]

#: Registry ``int`` columns are 64-bit (BIGINT): the range of every stored integer value.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: Field types a universe may declare, with the Python type of their values.
FIELD_TYPES: dict[str, type] = {"int": int, "string": str, "float": float, "bool": bool, "bytes": bytes}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One column of a dimension element: a key or a metadata field."""

    name: str
    type: str
    """One of ``int``, ``string``, ``float``, ``bool``, ``bytes``."""
    length: int | None = None
    """Maximum length for ``string`` and ``bytes``."""
    nullable: bool = True
    doc: str = ""


def coerce_value(spec: FieldSpec, value: Any, *, what: str) -> Any:
    """Return ``value`` as the Python type of ``spec``, or raise `DataIdError` naming ``what``.

    Integers accept anything with ``__index__`` (NumPy integers) and strings of decimal digits (as typed on a
    command line); strings accept `str` (NumPy ``str_`` included).  Booleans are never integers here.

    Integers must fit in 64 bits (beyond, SQLite's driver raises `OverflowError` and PostgreSQL an error of
    its own) and strings may not hold NUL characters (PostgreSQL refuses them, SQLite keeps them): both are
    refused here, so a data ID means the same on either registry and fails before any file is written.
    """
    kind = spec.type
    if kind == "int":
        if type(value) is int:
            return value if INT64_MIN <= value <= INT64_MAX else _int64(value, what)  # no call on the hot path
        if isinstance(value, bool):
            raise DataIdError(f"{what} must be an integer, not the boolean {value!r}.")
        if hasattr(value, "__index__"):
            return _int64(int(value.__index__()), what)
        if isinstance(value, str) and value.strip().removeprefix("-").isdecimal() and value.isascii():
            return _int64(int(value), what)
        raise DataIdError(f"{what} must be an integer, got {value!r} ({type(value).__name__}).")
    if kind == "string":
        if isinstance(value, str):
            text = str(value)
            if spec.length is not None and len(text) > spec.length:
                raise DataIdError(f"{what} is {len(text)} characters long; at most {spec.length} are allowed.")
            if "\x00" in text:
                raise DataIdError(f"{what} {text!r} holds a NUL character, which the registry cannot store.")
            return text
        raise DataIdError(f"{what} must be a string, got {value!r} ({type(value).__name__}).")
    if kind == "float":
        if isinstance(value, bool) or (not isinstance(value, int | float) and not hasattr(value, "__float__")):
            raise DataIdError(f"{what} must be a number, got {value!r} ({type(value).__name__}).")
        return float(value)
    if kind == "bool":
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return bool(value)
        if value in (0, 1):
            return bool(value)
        raise DataIdError(f"{what} must be a boolean, got {value!r}.")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    raise DataIdError(f"{what} must be bytes (or a hex string), got {value!r}.")


def _int64(value: int, what: str) -> int:
    """``value`` when the registry can hold it; else a `DataIdError` (not the driver's raw overflow error)."""
    if INT64_MIN <= value <= INT64_MAX:
        return value
    raise DataIdError(
        f"{what} is {value}, outside the 64-bit integers the registry stores ({INT64_MIN} to {INT64_MAX})."
    )


@dataclass(frozen=True, slots=True, eq=False)
class DimensionElement:
    """One element of a dimension universe (a table of records).

    An element with key fields is a *dimension*: it can appear in data IDs, and its first key is its value
    there.  An element without keys (``visit_detector_region``) is identified by the dimensions it requires.
    """

    name: str
    doc: str = ""
    keys: tuple[FieldSpec, ...] = ()
    """First: the primary key (the value in data IDs); the rest: alternate keys, unique within ``required``."""
    requires: tuple[str, ...] = ()
    """Direct parents that are part of the identity."""
    implies: tuple[str, ...] = ()
    """Dimensions whose value a record of this element determines."""
    metadata: tuple[FieldSpec, ...] = ()
    governor: bool = False
    has_timespan: bool = False
    has_region: bool = False
    populated_by: str | None = None
    always_join: bool = False
    is_skypix: bool = False
    index: int = 0
    """Position in the universe's topological order."""
    required: tuple[str, ...] = field(default=())
    """Every dimension in the identity (transitively through ``requires``), parents first, then this one."""
    field_specs: tuple[FieldSpec | None, ...] = ()
    """One spec per `record_fields` entry (``None`` for timespan and region), set by the universe."""
    field_index: dict[str, int] = field(default_factory=dict)
    """Record field name → position."""

    @property
    def is_dimension(self) -> bool:
        """Whether the element can be a data ID key (it has a primary key)."""
        return bool(self.keys)

    @property
    def primary_key(self) -> FieldSpec:
        """The key whose value appears in data IDs."""
        return self.keys[0]

    @property
    def alternate_keys(self) -> tuple[FieldSpec, ...]:
        """Other unique keys, resolvable to the primary key through records (``detector.full_name``)."""
        return self.keys[1:]

    @property
    def parents(self) -> tuple[str, ...]:
        """The required dimensions other than this one."""
        return self.required[:-1] if self.is_dimension else self.required

    def record_fields(self) -> tuple[str, ...]:
        """Names of a record's fields: parents' keys, own keys, implied dimensions, metadata, then extras."""
        names = [*self.parents, *(k.name for k in self.keys), *self.implies, *(m.name for m in self.metadata)]
        if self.has_timespan:
            names.append("timespan")
        if self.has_region:
            names.append("region")
        return tuple(names)

    def __repr__(self) -> str:
        return f"DimensionElement({self.name!r})"

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DimensionElement) and other.name == self.name
