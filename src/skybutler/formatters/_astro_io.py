"""What the FITS, HDF5 and Parquet formatters share: which storage class an object is, read parameters,
and turning a table read from a file into the storage class it was written as.

Files record the storage class they were written as (a FITS keyword, an HDF5 attribute, Parquet schema
metadata), so a formatter returns the type that was put and the datastore converts from there when a
different storage class is asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from skybutler.astro import Exposure, Image, Spectrum
from skybutler.astro._conversions import to_arrow, to_astropy, to_numpy, to_pandas
from skybutler.astro._tables import check_columns, filter_rows, normalize_filters, table_kind
from skybutler.errors import FormatterError

__all__ = [
    "TABLE_CLASSES",
    "convert_table",
    "finish_table",
    "read_parameters",
    "storage_class_of",
    "table_for_writing",
]

TABLE_CLASSES = ("AstropyTable", "ArrowTable", "DataFrame", "NumpyStructuredArray")
_TABLE_BY_KIND = {
    "astropy": "AstropyTable",
    "arrow": "ArrowTable",
    "pandas": "DataFrame",
    "numpy": "NumpyStructuredArray",
}
_CONVERT = {
    "AstropyTable": to_astropy,
    "ArrowTable": to_arrow,
    "DataFrame": to_pandas,
    "NumpyStructuredArray": to_numpy,
}
COMPONENTS = {
    "Image": ("data", "metadata"),
    "Exposure": ("image", "mask", "variance", "metadata", "wcs", "visit_info"),
    "Spectrum": ("flux", "wavelength", "mask", "metadata"),
    "Metadata": (),
    "Wcs": (),
    "NumpyArray": (),
    "StructuredDataDict": (),
    **dict.fromkeys(TABLE_CLASSES, ("schema", "rowcount")),
}
PARAMETERS = {
    "Image": ("bbox",),
    "Exposure": ("bbox",),
    "Spectrum": ("wavelength_range",),
    "Metadata": (),
    "Wcs": (),
    "NumpyArray": ("slices",),  # as .npy reads it; mmap is the .npy formatter's own
    "StructuredDataDict": (),
    **dict.fromkeys(TABLE_CLASSES, ("columns", "filters")),
}


def _plain_array(obj: Any) -> bool:
    """Whether ``obj`` is a NumPy array without named fields (those are tables)."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(obj, numpy.ndarray) and obj.dtype.names is None


def storage_class_of(obj: Any, supported: Iterable[str]) -> str:
    """Return the name of the storage class ``obj`` belongs to, among those a formatter writes.

    Raises
    ------
    FormatterError
        ``obj`` is of none of them.
    """
    supported = tuple(supported)
    name: str | None = None
    if isinstance(obj, Image):
        name = "Image"
    elif isinstance(obj, Exposure):
        name = "Exposure"
    elif isinstance(obj, Spectrum):
        name = "Spectrum"
    elif isinstance(obj, dict):
        name = "Metadata"
    elif "astropy.wcs" in sys.modules and isinstance(obj, sys.modules["astropy.wcs"].WCS):
        name = "Wcs"
    elif "NumpyArray" in supported and _plain_array(obj):  # an n-d array, the most basic FITS / HDF5 object
        name = "NumpyArray"
    else:
        try:
            name = _TABLE_BY_KIND[table_kind(obj)]
        except FormatterError:
            name = None
    allowed = tuple(supported)
    if name is None or name not in allowed:
        raise FormatterError(
            f"Cannot write a {type(obj).__module__}.{type(obj).__qualname__} here; this formatter writes "
            f"{', '.join(allowed)}."
        )
    return name


def read_parameters(
    storage_class: str, component: str | None, parameters: Mapping[str, Any] | None, fmt: str
) -> dict[str, Any]:
    """Return ``parameters`` as a dict after checking the component and each parameter exist for the class.

    Raises
    ------
    FormatterError
        The storage class has no such component, or does not accept one of the parameters.
    """
    components = COMPONENTS.get(storage_class, ())
    if component is not None and component not in components:
        raise FormatterError(f"A {storage_class} has no component {component!r}; components: {list(components)}.")
    params = dict(parameters or {})
    allowed = PARAMETERS.get(storage_class, ())
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise FormatterError(
            f"Unknown read parameter(s) {unknown} for a {storage_class} in {fmt}; accepted: {list(allowed) or 'none'}."
        )
    return params


def table_for_writing(obj: Any, storage_class: str, fmt: str) -> Any:
    """Return a table as an astropy ``Table`` for the FITS and HDF5 writers.

    Raises
    ------
    FormatterError
        A DataFrame with an index other than the default ``0..n-1``: only Parquet keeps an index.
    """
    if storage_class == "DataFrame":
        import pandas as pd

        index = obj.index
        if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None):
            raise FormatterError(
                f"{fmt} stores a DataFrame's columns, not its index ({type(index).__name__}); "
                "call reset_index() first, or store it as Parquet, which keeps the index."
            )
    return to_astropy(obj)


def convert_table(table: Any, storage_class: str) -> Any:
    """Convert a table to the table storage class ``storage_class``."""
    return _CONVERT[storage_class](table)


def finish_table(table: Any, storage_class: str, columns: Any, filters: Any) -> Any:
    """Apply ``filters`` then ``columns`` to an astropy table read in full, and convert it.

    The result equals reading in full, converting, then `skybutler.astro.select`: a DataFrame keeps the
    labels of the rows that pass.
    """
    import numpy as np

    names = list(table.colnames)
    wanted = check_columns(columns, names)
    dnf = normalize_filters(filters, names)
    rows = None
    if dnf is not None:
        rows = np.flatnonzero(filter_rows(dnf, lambda name: table[name]))
        table = table[rows]
    if wanted is not None:
        table = table[wanted]
    out = convert_table(table, storage_class)
    if storage_class == "DataFrame" and rows is not None:
        import pandas as pd

        out.index = pd.Index(rows, dtype="int64")
    return out
