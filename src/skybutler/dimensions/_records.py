"""Dimension records: one row of one element, validated against the element's fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skybutler.dimensions._elements import DimensionElement, coerce_value
from skybutler.dimensions._time import Timespan
from skybutler.errors import DataIdError

__all__ = ["DimensionRecord"]


class DimensionRecord:
    """One record of a dimension element, e.g. visit 1228 of HSC with its filter, day_obs and timespan.

    Fields are read as attributes (``record.physical_filter``) or with `to_dict`.  Records are immutable
    and compare equal when their element and every field are equal.
    """

    __slots__ = ("_index", "_values", "element")

    element: DimensionElement
    _index: dict[str, int]
    _values: tuple[Any, ...]

    def __init__(self, element: DimensionElement, values: tuple[Any, ...]) -> None:
        object.__setattr__(self, "element", element)
        object.__setattr__(self, "_index", element.field_index)
        object.__setattr__(self, "_values", values)

    @classmethod
    def from_dict(cls, element: DimensionElement, data: Mapping[str, Any]) -> DimensionRecord:
        """Validate ``data`` against ``element``'s fields and build the record.

        Raises
        ------
        DataIdError
            A field is unknown, missing (and not nullable) or has the wrong type.
        """
        index, specs = element.field_index, element.field_specs
        unknown = [k for k in data if k not in index]
        if unknown:
            raise DataIdError(
                f"Unknown field(s) {unknown} for a {element.name!r} record; its fields are {list(index)}."
            )
        values: list[Any] = []
        for name, spec in zip(index, specs, strict=True):
            value = data.get(name)
            if spec is None:
                values.append(_coerce_extra(element, name, value))
            elif value is None:
                if not spec.nullable:
                    raise DataIdError(f"A {element.name!r} record needs a value for {name!r}; got {dict(data)!r}.")
                values.append(None)
            else:
                values.append(coerce_value(spec, value, what=f"{element.name}.{name}"))
        return cls(element, tuple(values))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[self._index[name]]
        except KeyError:
            raise AttributeError(
                f"A {self.element.name!r} record has no field {name!r}; fields: {list(self._index)}."
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Dimension records are immutable.")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Dimension records are immutable.")

    def get(self, name: str, default: Any = None) -> Any:
        """Return field ``name``, or ``default`` when the element has no such field."""
        i = self._index.get(name)
        return default if i is None else self._values[i]

    @property
    def values(self) -> tuple[Any, ...]:
        """Field values in `DimensionElement.record_fields` order."""
        return self._values

    @property
    def key(self) -> tuple[Any, ...]:
        """The identity: values of the required dimensions (parents' keys, then this element's own)."""
        return self._values[: len(self.element.required)]

    def to_dict(self) -> dict[str, Any]:
        """Return every field as a plain dict."""
        return dict(zip(self._index, self._values, strict=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DimensionRecord) or other.element.name != self.element.name:
            return False
        if not self.element.has_region:
            return other._values == self._values
        # sphgeom's unions do not compare equal to equal unions: regions compare by their encoding
        return other._comparable() == self._comparable()

    def _comparable(self) -> tuple[Any, ...]:
        from skybutler.dimensions._regions import region_key

        i = self._index["region"]
        return (*self._values[:i], region_key(self._values[i]), *self._values[i + 1 :])

    def __hash__(self) -> int:
        return hash((self.element.name, self.key))

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{self.element.name}({body})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (DimensionRecord, (self.element, self._values))


def _coerce_extra(element: DimensionElement, name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "timespan":
        if isinstance(value, Timespan):
            return value
        if isinstance(value, Mapping):
            return Timespan.from_times(value.get("begin"), value.get("end"))
        if isinstance(value, tuple | list) and len(value) == 2:
            return Timespan.from_times(value[0], value[1])
        raise DataIdError(
            f"{element.name}.timespan must be a Timespan, a (begin, end) pair or a mapping; got {value!r}."
        )
    # Regions are sphgeom objects; their encoding (bytes, or hex text as exports write it) and astropy SkyCoord
    # polygons are accepted too (see `as_region`).
    from skybutler.dimensions._regions import as_region

    return as_region(value, what=f"{element.name}.region")
