"""HDF5 building blocks: metadata as attributes, arrays as datasets (exact dtypes, unicode included).

HDF5 has no NumPy unicode (``U``) or datetime type: ``U`` arrays are stored as UTF-8 variable-length strings
and datetimes as int64, each with a ``numpy_dtype`` attribute so they read back with the dtype written.
Attribute order is kept (``track_order``), so metadata reads back in the order it was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from skybutler.astro._metadata import plain_metadata
from skybutler.errors import FormatterError

__all__ = ["get_array", "get_attrs", "get_structured", "put_array", "put_attrs", "put_structured"]

_INT64 = 2**63
_STR = h5py.string_dtype("utf-8")


def _check_text(text: str, what: str) -> None:
    if "\x00" in text:
        raise FormatterError(f"{what}: HDF5 strings cannot hold NUL characters.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FormatterError(f"{what}: not valid UTF-8 text ({exc}).") from None


def put_attrs(node: Any, metadata: Mapping[str, Any] | None, what: str = "metadata") -> None:
    """Store ``metadata`` as the attributes of ``node`` (``None`` as an empty attribute).

    Raises
    ------
    FormatterError
        An empty key, an integer wider than 64 bits, or text HDF5 cannot hold.
    """
    for key, value in plain_metadata(metadata, what).items():
        if not key:
            raise FormatterError(f"{what}: HDF5 attribute names cannot be empty.")
        _check_text(key, f"{what} key {key!r}")
        if value is None:
            node.attrs[key] = h5py.Empty("f")
        elif isinstance(value, list):
            for line in value:
                _check_text(line, f"{what}[{key!r}]")
            node.attrs.create(key, np.array(value, dtype=object), dtype=_STR)
        elif isinstance(value, str):
            _check_text(value, f"{what}[{key!r}]")
            node.attrs[key] = value
        elif isinstance(value, bool):
            node.attrs[key] = np.bool_(value)
        elif isinstance(value, int):
            if not -_INT64 <= value < _INT64:
                raise FormatterError(f"{what}[{key!r}] = {value}: HDF5 attributes hold integers of up to 64 bits.")
            node.attrs[key] = np.int64(value)
        else:
            node.attrs[key] = np.float64(value)


def get_attrs(node: Any) -> dict[str, Any]:
    """Return the attributes of ``node`` as metadata (plain Python values)."""
    out: dict[str, Any] = {}
    for key, value in node.attrs.items():
        if isinstance(value, h5py.Empty):
            out[key] = None
        elif isinstance(value, np.ndarray):
            out[key] = [v.decode() if isinstance(v, bytes) else str(v) for v in value.tolist()]
        elif isinstance(value, bytes):
            out[key] = value.decode()
        elif isinstance(value, np.generic):
            out[key] = value.item()
        else:
            out[key] = value
    return out


def put_array(group: Any, name: str, array: Any, what: str, **attrs: Any) -> Any:
    """Create dataset ``name`` in ``group`` holding ``array`` exactly; return it."""
    array = np.asarray(array)
    kind = array.dtype.kind
    stored: Any = array
    dtype_attr = None
    if kind == "U":
        flat = array.reshape(-1).tolist()
        for text in flat:
            _check_text(text, what)
        stored = np.array(flat, dtype=object).reshape(array.shape)
        dtype_attr = array.dtype.str
    elif kind in "mM":
        stored = array.view("i8")
        dtype_attr = array.dtype.str
    elif kind not in "biufcS":
        raise FormatterError(f"{what} has dtype {array.dtype}, which the hdf5 formatter cannot store.")
    try:
        dataset = group.create_dataset(name, data=stored, dtype=_STR if kind == "U" else None, track_order=True)
    except (ValueError, TypeError) as exc:
        raise FormatterError(f"Cannot store {what} in HDF5: {exc}") from exc
    if dtype_attr is not None:
        dataset.attrs["numpy_dtype"] = dtype_attr
    for key, value in attrs.items():
        if value is not None:
            dataset.attrs[key] = value
    return dataset


def get_array(dataset: Any, selection: Any = ()) -> Any:
    """Read ``dataset[selection]`` with the dtype it was written with."""
    stored = dataset.dtype
    # Only strings (stored as objects) and datetimes (stored as int64) carry a numpy_dtype attribute; not
    # looking for it on other datasets saves an attribute lookup per read.
    dtype = dataset.attrs.get("numpy_dtype") if stored.kind == "O" or stored == np.int64 else None
    if dtype is None:
        return dataset[selection]
    dtype = np.dtype(dtype)
    if dtype.kind == "U":
        return np.asarray(dataset.asstr()[selection], dtype=object).astype(dtype)
    return dataset[selection].view(dtype)


#: The attribute of a StructuredDataDict group that gives its layout: a dict's keys in order, or a list's length.
_LAYOUT = "."


def put_structured(group: Any, data: Any, where: str = "data") -> None:
    """Store a dict or list in ``group``: scalars as attributes, dicts and lists as subgroups.

    A dict's keys and a list's indices (``"0"``, ``"1"``, ...) name the attributes and subgroups; the
    group's ``"."`` attribute holds the dict's keys in order (a list of strings) or the list's length (an
    integer), which also tells a dict from a list.  The values were checked by `_structured.check`.

    Raises
    ------
    FormatterError
        A key HDF5 cannot use as a name: empty, ``.``, or holding ``/``.
    """
    if isinstance(data, dict):
        names = list(data)
        for key in names:
            if key in ("", _LAYOUT) or "/" in key:
                raise FormatterError(f"{where} has the key {key!r}: HDF5 names cannot be empty, '.' or hold '/'.")
            _check_text(key, f"{where} key {key!r}")
        items = [(key, data[key], f"{where}[{key!r}]") for key in names]
        group.attrs.create(_LAYOUT, np.array(names, dtype=object), shape=(len(names),), dtype=_STR)
    else:
        items = [(str(i), value, f"{where}[{i}]") for i, value in enumerate(data)]
        group.attrs[_LAYOUT] = np.int64(len(data))
    for name, value, inner in items:
        if isinstance(value, dict | list):
            put_structured(group.create_group(name, track_order=True), value, inner)
        elif value is None:
            group.attrs[name] = h5py.Empty("f")
        elif isinstance(value, bool):
            group.attrs[name] = np.bool_(value)
        elif isinstance(value, int):
            group.attrs[name] = np.int64(value)
        elif isinstance(value, float):
            group.attrs[name] = np.float64(value)
        else:
            _check_text(value, inner)
            group.attrs.create(name, value, dtype=_STR)


def get_structured(group: Any) -> Any:
    """The dict or list `put_structured` stored in ``group``."""
    layout = group.attrs[_LAYOUT]
    names = [str(i) for i in range(int(layout))] if np.ndim(layout) == 0 else [_text(k) for k in layout]
    attrs = group.attrs
    values: list[Any] = []
    for name in names:
        if name in attrs:
            value = attrs[name]
            if isinstance(value, h5py.Empty):
                values.append(None)
            elif isinstance(value, np.generic):
                values.append(value.item())
            else:
                values.append(_text(value))
        else:
            values.append(get_structured(group[name]))
    return values if np.ndim(layout) == 0 else dict(zip(names, values, strict=True))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
