"""A ``StructuredDataDict`` (nested dicts and lists of numbers, strings, booleans and None) in FITS and HDF5.

A dict is what both formats call metadata too, so the object alone cannot say which storage class it is: the
datastore tells the formatter (`Formatter.for_storage_class`), and the file records it.  Only values that
read back equal, and of the same type, are written; anything else is refused with a `FormatterError` that
names the place (``data['a'][2]``) and says why, rather than changed on the way (a tuple would read back
as a list, an integer key as a string, a NumPy scalar as a Python number).

FITS keeps the tree in a binary table ``DATA``, one row per node in pre-order (`fits_hdu`): ``PARENT`` (the
parent's row, -1 for the root), ``KEY`` (the key in a dict parent, UTF-8), ``KIND``, and the value in ``INT``
(integers and booleans), ``FLOAT`` or ``TEXT`` (UTF-8: FITS strings are ASCII).  HDF5 keeps it as groups and
attributes (`_hdf5_nodes.put_structured`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from skybutler.errors import FormatterError

__all__ = ["STRUCTURED", "Row", "check", "fits_hdu", "from_fits", "from_rows", "rows"]

#: The storage class of this module.
STRUCTURED = "StructuredDataDict"
_INT64 = 2**63
#: Deeper trees are refused (a reference cycle would otherwise recurse without end).
_MAX_DEPTH = 100


class Row(NamedTuple):
    """One node of the tree: its parent's row (-1 for the root), its key in a dict parent ('' in a list),
    its kind (``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``, ``null``) and its value (scalars)."""

    parent: int
    key: str
    kind: str
    value: Any


def _kind(value: Any, where: str) -> str:
    """The kind of ``value``, refusing what would not read back equal and of the same type."""
    if value is None:
        return "null"
    if type(value) is bool:
        return "bool"
    if type(value) is int:
        if not -_INT64 <= value < _INT64:
            raise FormatterError(f"{where} = {value}: only integers of up to 64 bits can be stored.")
        return "int"
    if type(value) is float:
        return "float"
    if type(value) is str:
        if "\x00" in value:
            raise FormatterError(f"{where}: text with a NUL character cannot be stored.")
        return "str"
    if type(value) is dict:
        return "dict"
    if type(value) is list:
        return "list"
    hint = " (it would read back as a list; put a list)" if isinstance(value, tuple) else ""
    raise FormatterError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}{hint}: a StructuredDataDict holds "
        "dicts with str keys, lists, str, int, float, bool and None only."
    )


def _walk(value: Any, parent: int, key: str, where: str, depth: int, out: list[Row]) -> None:
    kind = _kind(value, where)
    if depth > _MAX_DEPTH:
        raise FormatterError(f"{where}: nested more than {_MAX_DEPTH} deep (a dict or list that holds itself?).")
    index = len(out)
    out.append(Row(parent, key, kind, None if kind in ("dict", "list") else value))
    if kind == "dict":
        for k, v in value.items():
            if type(k) is not str:
                raise FormatterError(f"{where} has the key {k!r}: StructuredDataDict keys are str.")
            if "\x00" in k:
                raise FormatterError(f"{where} has a key with a NUL character, which cannot be stored.")
            _walk(v, index, k, f"{where}[{k!r}]", depth + 1, out)
    elif kind == "list":
        for i, v in enumerate(value):
            _walk(v, index, "", f"{where}[{i}]", depth + 1, out)


def rows(data: Any) -> list[Row]:
    """The tree of ``data`` as rows in pre-order (the root first), after checking every value.

    Raises
    ------
    FormatterError
        ``data`` is not a dict, or holds what cannot be stored exactly (see the module docstring).
    """
    if type(data) is not dict:
        raise FormatterError(f"A StructuredDataDict is a dict; got a {type(data).__qualname__}.")
    out: list[Row] = []
    _walk(data, -1, "", "data", 0, out)
    return out


def check(data: Any) -> None:
    """Check that ``data`` can be stored exactly (`rows` without keeping them)."""
    rows(data)


def from_rows(table: Iterator[Row] | list[Row]) -> dict[str, Any]:
    """The dict that `rows` flattened."""
    nodes: list[Any] = []
    for parent, key, kind, value in table:
        node: Any = {} if kind == "dict" else [] if kind == "list" else value
        nodes.append(node)
        if parent < 0:
            continue
        container = nodes[parent]
        if isinstance(container, list):
            container.append(node)
        else:
            container[key] = node
    if not nodes or not isinstance(nodes[0], dict):
        raise FormatterError("This file holds no StructuredDataDict (its tree has no root dict).")
    return dict(nodes[0])


_KINDS = ("dict", "list", "str", "int", "float", "bool", "null")


def fits_hdu(data: Any) -> Any:
    """The binary table HDU ``DATA`` holding ``data`` (see the module docstring), after `rows` checked it."""
    import numpy as np
    from astropy.io import fits

    table = rows(data)

    def utf8(texts: list[str]) -> Any:
        out = np.empty(len(texts), dtype=object)
        out[:] = [np.frombuffer(text.encode("utf-8"), dtype=np.uint8) for text in texts]
        return out

    ints = [int(r.value) if r.kind in ("int", "bool") else 0 for r in table]
    columns = [
        fits.Column("PARENT", "K", array=np.array([r.parent for r in table], dtype=np.int64)),
        fits.Column("KEY", "PB()", array=utf8([r.key for r in table])),
        fits.Column("KIND", "5A", array=np.array([r.kind for r in table])),
        fits.Column("INT", "K", array=np.array(ints, dtype=np.int64)),
        fits.Column("FLOAT", "D", array=np.array([r.value if r.kind == "float" else 0.0 for r in table])),
        fits.Column("TEXT", "PB()", array=utf8([r.value if r.kind == "str" else "" for r in table])),
    ]
    return fits.BinTableHDU.from_columns(columns, name="DATA")


def from_fits(hdu: Any) -> dict[str, Any]:
    """The dict `fits_hdu` stored in ``hdu``."""
    data = hdu.data
    if data is None:
        raise FormatterError("This FITS file's DATA table is empty: it holds no StructuredDataDict.")

    def read(i: int) -> Row:
        kind = str(data["KIND"][i]).strip()
        if kind not in _KINDS:
            raise FormatterError(f"This FITS file's DATA table has an unknown KIND {kind!r} in row {i}.")
        value: Any = None
        if kind == "int":
            value = int(data["INT"][i])
        elif kind == "bool":
            value = bool(data["INT"][i])
        elif kind == "float":
            value = float(data["FLOAT"][i])
        elif kind == "str":
            value = bytes(data["TEXT"][i]).decode("utf-8")
        return Row(int(data["PARENT"][i]), bytes(data["KEY"][i]).decode("utf-8"), kind, value)

    return from_rows([read(i) for i in range(len(data))])
