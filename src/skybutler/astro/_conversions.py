"""Converters between the four table types; the table storage classes declare them by name.

Arrow is the hub for pandas (pyarrow's own conversions, which keep the index), and each conversion keeps
what the target can hold:

* units and descriptions: astropy column attributes ↔ Arrow field metadata (``unit``, ``description``) ↔
  ``DataFrame.attrs["units"]`` (pandas has no per-column metadata);
* table metadata: astropy ``meta`` ↔ Arrow schema metadata (string values as plain keys, others as JSON
  under ``skybutler.meta``) ↔ ``DataFrame.attrs`` (stored as pandas does, under ``PANDAS_ATTRS``);
* exact NumPy dtypes (string widths, ``S`` or ``U``) in Arrow field metadata ``numpy_dtype``, so a table read
  back from Parquet has the dtypes it was written with, up to byte order: values come back in native order.

Missing values: astropy masked columns ↔ Arrow nulls ↔ NumPy masked arrays.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, TypeAlias

from skybutler.astro._tables import table_kind
from skybutler.errors import FormatterError

__all__ = [
    "RESERVED_ARROW_KEYS",
    "arrow_column_to_numpy",
    "arrow_to_astropy",
    "meta_from_arrow",
    "meta_to_arrow",
    "numpy_to_arrow_column",
    "pandas_attrs",
    "pandas_to_arrow",
    "to_arrow",
    "to_astropy",
    "to_numpy",
    "to_pandas",
]

META_KEY = b"skybutler.meta"
PANDAS_ATTRS = b"PANDAS_ATTRS"
#: (name, values, mask or None, unit, description) of one column.
_ColumnParts: TypeAlias = "tuple[str, Any, Any, str | None, str | None]"
RESERVED_ARROW_KEYS = frozenset({b"pandas", PANDAS_ATTRS, META_KEY, b"skybutler.storage_class", b"ARROW:schema"})


# -- public converters (named in the storage-class declarations) -------------------------------------------
def to_astropy(table: Any) -> Any:
    """Return ``table`` as an ``astropy.table.Table``."""
    from astropy.table import Table

    kind = table_kind(table)
    if kind == "astropy":
        return table
    if kind == "numpy":
        return Table(table)
    if kind == "pandas":
        table = pandas_to_arrow(table, preserve_index=False)
    return arrow_to_astropy(table)


def to_arrow(table: Any) -> Any:
    """Return ``table`` as a ``pyarrow.Table``."""
    kind = table_kind(table)
    if kind == "arrow":
        return table
    if kind == "pandas":
        return pandas_to_arrow(table, preserve_index=None)
    if kind == "numpy":
        names = table.dtype.names
        plain: list[_ColumnParts] = [(n, table[n], _mask(table[n]), None, None) for n in names]
        return _build_arrow(plain, {})
    columns: list[_ColumnParts] = [
        (name, table[name], _mask(table[name]), _unit(table[name]), table[name].description or None)
        for name in table.colnames
    ]
    return _build_arrow(columns, table.meta)


def to_pandas(table: Any) -> Any:
    """Return ``table`` as a ``pandas.DataFrame`` (units in ``attrs["units"]``)."""
    kind = table_kind(table)
    if kind == "pandas":
        return table
    arrow = to_arrow(table)
    frame = arrow.to_pandas()
    _nullable_integers(arrow, frame)
    frame.attrs = pandas_attrs(arrow)
    return frame


def _nullable_integers(arrow: Any, frame: Any) -> None:
    """Give integer columns with nulls pandas' nullable integer dtypes (``Int64``, ``UInt8``, ...), in place.

    pyarrow turns them into float64 with NaN, which rounds every value beyond 2**53 (64-bit object IDs): a
    masked ``int64`` column would come back as different numbers.  Columns pandas metadata already typed
    (a DataFrame's own ``Int64``) and index columns are left as they are.
    """
    import pandas as pd
    import pyarrow as pa

    if not frame.columns.is_unique:
        return
    nullable = {
        pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(),
    }  # fmt: skip
    for i, field in enumerate(arrow.schema):
        if field.type not in nullable or not arrow.column(i).null_count or field.name not in frame.columns:
            continue
        if frame[field.name].dtype.kind == "f":
            frame[field.name] = arrow.column(i).to_pandas(types_mapper=nullable.get)


def to_numpy(table: Any) -> Any:
    """Return ``table`` as a structured NumPy array (a masked array when any value is missing)."""
    import numpy as np

    kind = table_kind(table)
    if kind == "numpy":
        return table
    if kind == "astropy":
        return table.as_array()
    if kind == "pandas":
        table = pandas_to_arrow(table, preserve_index=False)
    columns = [arrow_column_to_numpy(field, table.column(i)) for i, field in enumerate(table.schema)]
    dtype = [(f.name, data.dtype, data.shape[1:]) for f, (data, _) in zip(table.schema, columns, strict=True)]
    out = np.empty(table.num_rows, dtype=dtype)
    masks = []
    for field, (data, mask) in zip(table.schema, columns, strict=True):
        out[field.name] = data
        masks.append(np.zeros(table.num_rows, bool) if mask is None else mask)
    if any(m.any() for m in masks):
        mask_array = np.empty(table.num_rows, dtype=[(f.name, bool) for f in table.schema])
        for field, m in zip(table.schema, masks, strict=True):
            mask_array[field.name] = m
        # NumPy first computes its default fill values (1e20, 999999), which overflow float16 and 8-bit
        # integers, then replaces them with the zeros given here: that overflow is of no consequence.
        zeros: Any = np.zeros((), out.dtype)[()]
        with np.errstate(over="ignore"):
            return np.ma.MaskedArray(out, mask=mask_array, fill_value=zeros)
    return out


# -- Arrow building blocks (also used by the Parquet formatter) ------------------------------------------
def _mask(column: Any) -> Any:
    import numpy as np

    mask = np.ma.getmask(column)
    if mask is np.ma.nomask or not mask.any():
        return None
    return mask


def _unit(column: Any) -> str | None:
    return None if column.unit is None else str(column.unit.to_string())


def _build_arrow(columns: list[_ColumnParts], meta: Mapping[str, Any]) -> Any:
    import pyarrow as pa

    arrays, fields = [], []
    for name, data, mask, unit, description in columns:
        array, field = numpy_to_arrow_column(str(name), data, mask, unit, description)
        arrays.append(array)
        fields.append(field)
    schema = pa.schema(fields, metadata=meta_to_arrow(meta))
    return pa.Table.from_arrays(arrays, schema=schema)


def numpy_to_arrow_column(
    name: str, data: Any, mask: Any = None, unit: str | None = None, description: str | None = None
) -> tuple[Any, Any]:
    """Return ``(array, field)`` for one NumPy column, recording its exact dtype and cell shape."""
    import numpy as np
    import pyarrow as pa

    data = np.ma.getdata(data)
    if data.dtype.kind == "O":
        raise FormatterError(f"Column {name!r} holds Python objects; only NumPy value types can be stored.")
    if data.dtype.byteorder not in "=|":
        data = data.astype(data.dtype.newbyteorder("="))
    metadata = {"numpy_dtype": data.dtype.str}
    shape = data.shape[1:]
    try:
        if shape:
            if mask is not None:
                raise FormatterError(f"Column {name!r}: missing values in multidimensional columns are not supported.")
            size = math.prod(shape)
            array = pa.FixedSizeListArray.from_arrays(pa.array(data.reshape(-1)), size)
            metadata["numpy_shape"] = json.dumps(list(shape))
        elif data.dtype.kind in "SU":  # via Python objects: pyarrow would cut NumPy strings at a NUL
            array = pa.array(
                data.astype(object), type=pa.binary() if data.dtype.kind == "S" else pa.string(), mask=mask
            )
        else:
            array = pa.array(data, mask=mask)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise FormatterError(f"Column {name!r} of dtype {data.dtype} cannot become an Arrow column: {exc}") from exc
    if unit:
        metadata["unit"] = unit
    if description:
        metadata["description"] = description
    return array, pa.field(name, array.type, metadata=metadata)


def arrow_column_to_numpy(field: Any, chunked: Any) -> tuple[Any, Any]:
    """Return ``(values, mask or None)`` of one Arrow column, with the NumPy dtype it was written with."""
    import pyarrow as pa

    meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
    array = chunked.combine_chunks() if isinstance(chunked, pa.ChunkedArray) else chunked
    mask = array.is_null().to_numpy(zero_copy_only=False) if array.null_count else None
    shape: list[int] = []
    while pa.types.is_fixed_size_list(array.type):
        shape.append(array.type.list_size)
        array = array.values[array.offset * array.type.list_size : (array.offset + len(array)) * array.type.list_size]
    if "numpy_shape" in meta:
        shape = json.loads(meta["numpy_shape"])
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
        filler: Any = b"" if pa.types.is_binary(kind) else ""
        values = array.fill_null(filler).to_numpy(zero_copy_only=False)
        values = values.astype(meta.get("numpy_dtype") or (bytes if filler == b"" else str))
    else:
        if array.null_count and (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
            array = array.fill_null(False if pa.types.is_boolean(kind) else 0)
        values = array.to_numpy(zero_copy_only=False)
        if "numpy_dtype" in meta:
            values = values.astype(meta["numpy_dtype"], copy=False)
    if shape:
        values = values.reshape(len(values) // max(math.prod(shape), 1), *shape)
    return values, mask


def arrow_to_astropy(table: Any) -> Any:
    import numpy as np
    from astropy import units
    from astropy.table import Column, MaskedColumn, Table

    columns = []
    for i, field in enumerate(table.schema):
        data, mask = arrow_column_to_numpy(field, table.column(i))
        meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
        unit = units.Unit(meta["unit"], parse_strict="silent") if "unit" in meta else None
        cls = Column if mask is None else MaskedColumn
        extra = {} if mask is None else {"mask": mask}
        columns.append(cls(data, name=field.name, unit=unit, description=meta.get("description"), copy=False, **extra))
    # astropy compares a masked float16 column's fill value with NumPy's default (1e20), which overflows
    # float16 in the cast and warns; the comparison's outcome is right either way.
    with np.errstate(over="ignore"):
        return Table(columns, meta=meta_from_arrow(table.schema.metadata), copy=False)


def pandas_to_arrow(frame: Any, preserve_index: bool | None) -> Any:
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(frame, preserve_index=preserve_index)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise FormatterError(f"This DataFrame cannot become an Arrow table: {exc}") from exc
    units = frame.attrs.get("units")
    if _column_units(units):
        fields = [
            f.with_metadata({**(f.metadata or {}), b"unit": units[f.name].encode()}) if f.name in units else f
            for f in table.schema
        ]
        table = table.cast(pa.schema(fields, metadata=table.schema.metadata))
    if frame.attrs:
        table = table.replace_schema_metadata({**table.schema.metadata, PANDAS_ATTRS: _json(frame.attrs).encode()})
    return table


def pandas_attrs(table: Any) -> dict[str, Any]:
    metadata = table.schema.metadata or {}
    if PANDAS_ATTRS in metadata:
        return dict(json.loads(metadata[PANDAS_ATTRS]))
    attrs = meta_from_arrow(metadata)
    units = {f.name: f.metadata[b"unit"].decode() for f in table.schema if f.metadata and b"unit" in f.metadata}
    if units:
        if "units" in attrs:
            raise FormatterError(
                "This table's metadata has a key 'units', where a DataFrame keeps its column units "
                f"(attrs['units'] = {units}); rename that key to convert the table to pandas."
            )
        attrs["units"] = units
    return attrs


def meta_to_arrow(meta: Mapping[str, Any]) -> dict[bytes, bytes] | None:
    """Table metadata as Arrow schema metadata: strings as plain keys, other values as JSON."""
    plain: dict[bytes, bytes] = {}
    rest: dict[str, Any] = {}
    _check_string_keys(meta)
    for key, value in meta.items():
        encoded = str(key).encode()
        if encoded in RESERVED_ARROW_KEYS:
            raise FormatterError(f"Table metadata key {key!r} is reserved; rename it.")
        if isinstance(value, str):
            plain[encoded] = value.encode()
        else:
            rest[str(key)] = value
    if rest:
        plain[META_KEY] = _json(rest).encode()
    return plain or None


def meta_from_arrow(metadata: Mapping[bytes, bytes] | None) -> dict[str, Any]:
    """The inverse of `meta_to_arrow`; pandas' ``PANDAS_ATTRS`` (less column ``units``) count as metadata too."""
    metadata = metadata or {}
    meta: dict[str, Any] = {k.decode(): v.decode() for k, v in metadata.items() if k not in RESERVED_ARROW_KEYS}
    if META_KEY in metadata:
        meta.update(json.loads(metadata[META_KEY]))
    elif PANDAS_ATTRS in metadata:
        attrs = json.loads(metadata[PANDAS_ATTRS])
        if _column_units(attrs.get("units")):
            del attrs["units"]
        meta.update(attrs)
    return meta


def _column_units(value: Any) -> bool:
    """Whether a DataFrame's ``attrs["units"]`` holds column units (names to unit strings, see `pandas_attrs`);
    any other value under that name is plain table metadata."""
    return isinstance(value, Mapping) and bool(value) and all(isinstance(u, str) for u in value.values())


def _check_string_keys(value: Any, where: str = "") -> None:
    """Refuse a dict key, at any depth, that is not a string: Arrow metadata and JSON would make it one.

    ``{1: "a"}`` would read back as ``{"1": "a"}`` (and ``{1: "a", "1": "b"}`` lose a value).

    Raises
    ------
    FormatterError
        Names the key and where it is.
    """
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise FormatterError(
                    f"Table metadata{where} has the key {key!r} ({type(key).__name__}), which Arrow and Parquet "
                    "store as a string, so it would read back changed; use string keys."
                )
            _check_string_keys(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for item in value:
            _check_string_keys(item, where)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise FormatterError(f"Table metadata must be JSON-compatible to be stored with Arrow: {exc}") from exc
