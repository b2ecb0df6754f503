"""Tables ↔ FITS binary tables: units in ``TUNITn``, descriptions in ``TCOMMn``, metadata as header cards.

astropy's own table writer turns metadata keys to upper case and units it cannot express in the FITS unit
standard into warnings; here metadata goes through `write_metadata` (exact or refused) and units are written
in the FITS standard when it can express them exactly, else in astropy's generic form.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
from astropy import units
from astropy.io import fits
from astropy.table import Table

from skybutler.errors import FormatterError
from skybutler.formatters._fits_header import read_metadata, write_metadata

__all__ = ["read_table", "read_table_schema", "table_hdu"]


def _unit_text(unit: Any) -> str:
    """The FITS-standard spelling of ``unit`` when it has an exact one, else astropy's generic spelling."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            text = str(unit.to_string("fits"))
            if units.Unit(text, format="fits", parse_strict="raise") == unit:
                return text
        except (ValueError, UserWarning):
            pass
    return str(unit.to_string())


def _parse_unit(text: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return units.Unit(text, format="fits", parse_strict="raise")
        except (ValueError, UserWarning):
            pass
    return units.Unit(text, parse_strict="silent")


def table_hdu(table: Any) -> fits.BinTableHDU:
    """Return ``table`` as a binary-table HDU named ``TABLE``.

    Raises
    ------
    FormatterError
        A column type FITS lacks (int8, float16, objects), non-ASCII text or text with trailing spaces (FITS
        drops them), masked values outside integer columns (FITS marks nulls only there), or metadata FITS
        cannot keep.
    """
    bare = table.copy(copy_data=False)
    bare.meta = {}
    for column in bare.itercols():
        kind = column.dtype.kind
        if column.dtype == np.int8 or column.dtype == np.float16 or kind in "OVmM":
            raise FormatterError(
                f"Column {column.name!r} has dtype {column.dtype}, which FITS tables cannot hold exactly; "
                "convert it (int16, float32) or use the hdf5 or parquet formatter."
            )
        if kind in "US" and len(column) and np.char.endswith(np.asarray(column), " " if kind == "U" else b" ").any():
            raise FormatterError(
                f"Column {column.name!r} has text with trailing spaces, which FITS drops on reading; strip them "
                "or use the hdf5 or parquet formatter."
            )
        if np.ma.getmaskarray(column).any():
            if kind not in "iu":
                raise FormatterError(
                    f"Column {column.name!r} ({column.dtype}) has missing (masked) values, which FITS binary tables "
                    "can mark only in integer columns: they would read back as ordinary values (NaN, '', True). "
                    "Fill them (column.filled(value)) or use the hdf5 or parquet formatter."
                )
            column.fill_value = _null_value(column)
        column.unit = None
        column.description = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            hdu = fits.table_to_hdu(bare)
    except (UnicodeEncodeError, ValueError, TypeError, UserWarning) as exc:
        raise FormatterError(f"Cannot write this table as a FITS binary table: {exc}") from exc
    hdu.name = "TABLE"
    for i, name in enumerate(table.colnames, start=1):
        column = table[name]
        cards = {}
        if column.unit is not None:
            cards[f"TUNIT{i}"] = _unit_text(column.unit)
        if column.description:
            cards[f"TCOMM{i}"] = str(column.description)
        for key, value in cards.items():
            try:
                hdu.header[key] = value
            except ValueError as exc:
                raise FormatterError(f"Column {name!r}: cannot write {key} = {value!r} to FITS: {exc}") from exc
    write_metadata(hdu.header, table.meta, "table meta")
    return hdu


def _null_value(column: Any) -> Any:
    """A value that no unmasked cell of the integer ``column`` holds, to mark its masked cells (``TNULLn``).

    astropy writes the column's ``fill_value`` (999999 by default) as ``TNULLn`` and masks every cell
    holding it on reading, so a real value equal to it would come back masked.

    Raises
    ------
    FormatterError
        Every value of the column's type is in use (a ``uint8`` column holding all 256): none is left.
    """
    info = np.iinfo(column.dtype)
    high = min(int(info.max), 2**63 - 1)  # astropy converts TNULL through int64: larger uint64 values fail
    used = np.unique(np.ma.compressed(column))
    used = used[used <= high].astype(np.int64)
    for candidate in (high, int(info.min)):
        if candidate not in used:
            return column.dtype.type(candidate)
    # used holds min and high: a gap is an unused value between (``+ 1`` cannot overflow below ``high``)
    gaps = np.flatnonzero(used[1:] > used[:-1] + 1)
    if not len(gaps):
        raise FormatterError(
            f"Column {column.name!r} has masked values and uses every {column.dtype} value, leaving none to mark "
            "them in FITS; use a wider integer type or the hdf5 or parquet formatter."
        )
    return column.dtype.type(used[gaps[0]] + 1)


def _columns_from_header(table: Table, header: fits.Header) -> Table:
    for i, name in enumerate(table.colnames, start=1):
        column = table[name]
        unit = header.get(f"TUNIT{i}")
        column.unit = None if unit is None else _parse_unit(unit)
        column.description = header.get(f"TCOMM{i}")
    table.meta = read_metadata(header)
    return table


def _read(hdu: Any) -> Table:
    # Units are parsed from TUNITn below, in the spelling `table_hdu` chose ("silent" here: no warnings).
    table = Table.read(hdu, character_as_bytes=False, mask_invalid=False, unit_parse_strict="silent")
    return _columns_from_header(table, hdu.header)


def read_table(hdu: Any) -> Table:
    """Read a binary-table HDU written by `table_hdu` into an astropy table."""
    return _read(hdu)


def read_table_schema(header: fits.Header) -> Table:
    """Return a zero-row table with the columns ``header`` describes, read through the same code as the data.

    Only the header was read from the file: the empty table is parsed from a copy with ``NAXIS2 = 0``,
    so dtypes, units and masks come out exactly as a full read would give them.
    """
    empty = header.copy()
    empty["NAXIS2"] = 0
    empty["PCOUNT"] = 0
    raw = fits.PrimaryHDU().header.tostring().encode() + empty.tostring().encode()
    with fits.open(io.BytesIO(raw), memmap=False) as hdul:
        return _read(hdul[1])
