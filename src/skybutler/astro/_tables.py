"""Tables of four kinds (astropy, Arrow, pandas, NumPy structured): schemas, column and row selection.

The ``columns`` and ``filters`` read parameters mean the same thing for every table storage class and
every format; `select` is their in-memory definition, which a formatter's partial read must match.
``filters`` follow pyarrow's convention: a list of ``(column, op, value)`` tuples that must all hold, or a
list of such lists of which any may hold; ``op`` is one of ``== = != < <= > >= in not in``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from skybutler.errors import FormatterError

__all__ = [
    "ColumnSchema",
    "FiltersLike",
    "TableKind",
    "TableSchema",
    "check_columns",
    "filter_rows",
    "normalize_filters",
    "select",
    "table_kind",
]

TableKind: TypeAlias = Literal["astropy", "arrow", "pandas", "numpy"]
FiltersLike: TypeAlias = "Sequence[tuple[str, str, Any]] | Sequence[Sequence[tuple[str, str, Any]]]"

_OPS = ("==", "=", "!=", "<", "<=", ">", ">=", "in", "not in")


@dataclass(frozen=True, slots=True)
class ColumnSchema:
    """One column: name, element type, per-row shape, unit and description."""

    name: str
    dtype: str
    """NumPy dtype string in native byte order (``"<f8"``, ``"<U7"``), or for types NumPy lacks the
    Arrow or pandas type name (``"large_string"``, ``"str"``)."""
    shape: tuple[int, ...] = ()
    """Shape of one cell; ``()`` for scalars."""
    unit: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class TableSchema:
    """The columns of a table, without its rows (the ``schema`` component of every table storage class).

    Examples
    --------
    >>> import numpy as np
    >>> TableSchema.of(np.zeros(3, dtype=[("ra", "f8"), ("dec", "f8")])).names
    ('ra', 'dec')
    """

    columns: tuple[ColumnSchema, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in order."""
        return tuple(c.name for c in self.columns)

    def __getitem__(self, name: str) -> ColumnSchema:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @classmethod
    def of(cls, table: Any) -> TableSchema:
        """Return the schema of an astropy ``Table``, Arrow ``Table``, pandas ``DataFrame`` or structured array."""
        kind = table_kind(table)
        if kind == "astropy":
            return cls(tuple(_astropy_column(table[name]) for name in table.colnames))
        if kind == "numpy":
            return cls(tuple(_numpy_column(name, table.dtype[name]) for name in table.dtype.names))
        if kind == "arrow":
            return cls(tuple(_arrow_column(field) for field in table.schema))
        units = table.attrs.get("units", {})
        return cls(tuple(_pandas_column(str(name), table[name].dtype, units) for name in table.columns))


def _native(dtype: Any) -> str:
    return str(dtype.newbyteorder("=").str)


def _numpy_column(name: str, dtype: Any, unit: str | None = None, description: str | None = None) -> ColumnSchema:
    base, shape = (dtype.subdtype[0], dtype.subdtype[1]) if dtype.subdtype else (dtype, ())
    return ColumnSchema(name, _native(base), tuple(shape), unit, description)


def _astropy_column(column: Any) -> ColumnSchema:
    unit = None if column.unit is None else column.unit.to_string()
    return ColumnSchema(column.name, _native(column.dtype), tuple(column.shape[1:]), unit, column.description or None)


def _arrow_column(field: Any) -> ColumnSchema:
    import json

    import pyarrow as pa

    meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
    arrow_type = field.type
    shape: tuple[int, ...] = tuple(json.loads(meta["numpy_shape"])) if "numpy_shape" in meta else ()
    while pa.types.is_fixed_size_list(arrow_type) and "numpy_shape" not in meta:
        shape += (arrow_type.list_size,)
        arrow_type = arrow_type.value_type
    if pa.types.is_fixed_size_list(arrow_type):
        arrow_type = arrow_type.value_type
    if "numpy_dtype" in meta:
        dtype = meta["numpy_dtype"]
    elif pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_boolean(arrow_type):
        import numpy as np

        dtype = _native(np.dtype(arrow_type.to_pandas_dtype()))
    else:
        dtype = str(arrow_type)
    return ColumnSchema(field.name, dtype, shape, meta.get("unit"), meta.get("description"))


def _pandas_column(name: str, dtype: Any, units: Mapping[str, str]) -> ColumnSchema:
    import numpy as np

    text = _native(dtype) if isinstance(dtype, np.dtype) and dtype.kind != "O" else str(dtype)
    return ColumnSchema(name, text, (), units.get(name))


def table_kind(table: Any) -> TableKind:
    """Which of the four table types ``table`` is (checked without importing any library it is not from).

    Raises
    ------
    FormatterError
        It is none of them (or a NumPy array without named fields).
    """
    for module, attr, kind in (
        ("astropy.table", "Table", "astropy"),
        ("pyarrow", "Table", "arrow"),
        ("pandas", "DataFrame", "pandas"),
        ("numpy", "ndarray", "numpy"),
    ):
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(table, getattr(loaded, attr)):
            if kind == "numpy" and (table.dtype.names is None or table.ndim != 1):
                raise FormatterError(
                    f"A table must be a 1-D structured array (with named fields); got dtype {table.dtype} "
                    f"and shape {table.shape}."
                )
            return kind  # type: ignore[return-value]
    raise FormatterError(
        f"Expected an astropy Table, pyarrow Table, pandas DataFrame or structured NumPy array; "
        f"got {type(table).__module__}.{type(table).__qualname__}."
    )


def column_names(table: Any) -> list[str]:
    """Column names of any of the four table types, in order."""
    kind = table_kind(table)
    if kind == "astropy":
        return list(table.colnames)
    if kind == "numpy":
        return list(table.dtype.names)
    if kind == "arrow":
        return list(table.column_names)
    return [str(c) for c in table.columns]


def check_columns(columns: Any, available: Sequence[str]) -> list[str] | None:
    """Validate a ``columns`` parameter against the columns a table has; ``None`` means all.

    Raises
    ------
    FormatterError
        ``columns`` is not a list of names, is empty, names a column twice, or names a column the table does not
        have.
    """
    if columns is None:
        return None
    if isinstance(columns, str) or not isinstance(columns, Iterable):
        raise FormatterError(f"columns must be a list of column names; got {columns!r}.")
    names = list(columns)
    if not names:  # a table of no columns has no rows either in astropy (table[[]] even keeps every column)
        raise FormatterError(
            "columns must name at least one column; to count rows, read the rowcount component instead."
        )
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise FormatterError(f"columns names {repeated} twice; name each column once.")
    missing = [c for c in names if c not in available]
    if missing:
        raise FormatterError(f"No column(s) {missing} in this table; it has {list(available)}.")
    return names


def normalize_filters(filters: Any, available: Sequence[str]) -> list[list[tuple[str, str, Any]]] | None:
    """Return ``filters`` as a list of conjunctions (disjunctive normal form), checked.

    Raises
    ------
    FormatterError
        The filters are not ``(column, op, value)`` tuples, use an unknown operator or name a missing column.
    """
    if filters is None:
        return None
    if not isinstance(filters, Sequence) or isinstance(filters, str) or not filters:
        raise FormatterError(f"filters must be a non-empty list of (column, op, value) tuples; got {filters!r}.")
    groups = filters if all(isinstance(f, list) for f in filters) else [filters]
    out = []
    for group in groups:
        terms = []
        for term in group:
            if not (isinstance(term, Sequence) and not isinstance(term, str) and len(term) == 3):
                raise FormatterError(f"A filter is a (column, op, value) tuple; got {term!r}.")
            column, op, value = term
            if op not in _OPS:
                raise FormatterError(f"Unknown filter operator {op!r} in {term!r}; use one of {list(_OPS)}.")
            if column not in available:
                raise FormatterError(f"Filter {term!r} names no column of this table; it has {list(available)}.")
            terms.append((column, "==" if op == "=" else op, value))
        out.append(terms)
    return out


def filter_rows(filters: list[list[tuple[str, str, Any]]], column: Any) -> Any:
    """Evaluate normalized ``filters`` to a boolean row mask; ``column(name)`` returns a column's values."""
    import numpy as np

    result: Any = None
    for group in filters:
        mask: Any = None
        for name, op, value in group:
            raw = column(name)
            missing = np.ma.getmaskarray(raw)  # masked (null) values pass no filter, as in Arrow
            values = np.ma.getdata(raw)
            if op in ("in", "not in"):
                term = np.isin(values, list(value))
                term = ~term if op == "not in" else term
            else:
                term = {
                    "==": np.equal,
                    "!=": np.not_equal,
                    "<": np.less,
                    "<=": np.less_equal,
                    ">": np.greater,
                    ">=": np.greater_equal,
                }[op](values, value)
            term = np.asarray(term, dtype=bool) & ~missing
            mask = term if mask is None else mask & term
        result = mask if result is None else result | mask
    return np.asarray(result, dtype=bool)


def select(table: Any, columns: Sequence[str] | None = None, filters: FiltersLike | None = None) -> Any:
    """Return the rows of ``table`` passing ``filters``, with only ``columns`` (the parameters' meaning).

    Rows are filtered before columns are dropped, so a filter may use a column that is not returned.
    Comparisons are NumPy's; a missing (masked, null) value passes no filter.
    A pandas index is kept (the labels of the rows that pass).
    """
    kind = table_kind(table)
    names = column_names(table)
    wanted = check_columns(columns, names)
    dnf = normalize_filters(filters, names)
    if dnf is not None:
        mask = filter_rows(dnf, lambda n: _column_values(table, kind, n))
        table = table.filter(mask) if kind == "arrow" else table[mask]
    if wanted is None:
        return table
    if kind == "arrow":
        return table.select(wanted)
    if kind == "numpy":
        from numpy.lib.recfunctions import repack_fields

        return repack_fields(table[wanted])
    return table[wanted]


def _column_values(table: Any, kind: TableKind, name: str) -> Any:
    """A column as a NumPy (masked) array, so filters mean the same for every kind of table.

    Arrow's own compute functions would differ at the edges (no float16 kernels, uint64 columns compared as
    int64), so Arrow columns are compared in NumPy too.
    """
    if kind == "pandas":
        return table[name].to_numpy()
    if kind == "arrow":
        import numpy as np

        from skybutler.astro._conversions import arrow_column_to_numpy

        index = table.schema.get_field_index(name)
        values, mask = arrow_column_to_numpy(table.schema.field(index), table.column(index))
        return values if mask is None else np.ma.MaskedArray(values, mask=mask)
    return table[name]
