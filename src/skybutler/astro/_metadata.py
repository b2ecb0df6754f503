"""Metadata: the ordered ``keyword → scalar`` mapping that images, spectra and tables carry.

A plain `dict` is the in-memory type (it keeps insertion order), so metadata round-trips through JSON and YAML
as well as FITS headers and HDF5 attributes.  Values are ``bool``, ``int``, ``float``, ``str`` or ``None``;
each binary format documents what else it refuses (FITS: ASCII only, no NaN).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from skybutler.errors import FormatterError

__all__ = [
    "COMMENTARY",
    "MetadataValue",
    "fits_structural",
    "header_to_metadata",
    "metadata_equal",
    "metadata_from_header",
    "plain_metadata",
]

MetadataValue: TypeAlias = "bool | int | float | str | None"

#: FITS keywords that may repeat; their values are kept as a list of strings.
COMMENTARY = ("COMMENT", "HISTORY")

#: Keywords that describe a FITS HDU's layout rather than its content (never metadata).
_STRUCTURAL = re.compile(
    r"^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|XTENSION|PCOUNT|GCOUNT|TFIELDS|EXTNAME|EXTVER|EXTLEVEL|BSCALE|BZERO|BLANK"
    r"|CHECKSUM|DATASUM|THEAP|ZIMAGE|ZBITPIX|ZNAXIS\d*|ZTILE\d*|ZCMPTYPE|ZQUANTIZ|ZDITHER0|END"
    r"|T(TYPE|FORM|UNIT|NULL|DIM|DISP|SCAL|ZERO|COMM)\d+)$"
)


def fits_structural(keyword: str) -> bool:
    """Whether ``keyword`` is one of the FITS keywords describing an HDU's layout."""
    return bool(_STRUCTURAL.match(keyword))


def plain_metadata(metadata: Mapping[str, Any] | None, what: str = "metadata") -> dict[str, Any]:
    """Return ``metadata`` as a new dict of plain Python scalars (NumPy scalars unwrapped).

    Raises
    ------
    FormatterError
        A key is not a string or a value is not a scalar (``COMMENT``/``HISTORY`` may be lists of strings).
    """
    out: dict[str, Any] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str):
            raise FormatterError(f"{what} keys must be strings; got {key!r}.")
        item = getattr(value, "item", None)
        if item is not None and getattr(value, "shape", None) == ():
            value = item()
        if key.upper() in COMMENTARY and isinstance(value, list | tuple):
            if not all(isinstance(v, str) for v in value):
                raise FormatterError(f"{what}[{key!r}] must be a list of strings; got {value!r}.")
            value = list(value)
        elif value is not None and not isinstance(value, bool | int | float | str):
            raise FormatterError(
                f"{what}[{key!r}] is a {type(value).__name__}; metadata values are bool, int, float, str or None."
            )
        out[key] = value
    return out


def metadata_from_header(header: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Return the cards of an astropy ``Header`` as metadata, leaving out the keywords in ``skip``.

    ``COMMENT`` and ``HISTORY`` cards are gathered into lists; blank keywords are dropped; undefined values
    become ``None``.  Duck-typed on ``header.cards`` so that this module does not import astropy.
    """
    skipped = set(skip)
    out: dict[str, Any] = {}
    for card in header.cards:
        key = card.keyword
        if not key or key in skipped:
            continue
        if key in COMMENTARY:
            out.setdefault(key, []).append(str(card.value))
            continue
        value = card.value
        out[key] = value if isinstance(value, bool | int | float | str) else None
    return out


def header_to_metadata(header: Any) -> dict[str, Any]:
    """Converter: an astropy ``Header`` put as ``Metadata`` keeps its cards, less the structural ones."""
    return metadata_from_header(header, skip=[c.keyword for c in header.cards if fits_structural(c.keyword)])


def metadata_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two metadata mappings hold the same keys, in the same order, with equal values (NaN == NaN)."""
    if list(a) != list(b):
        return False
    return all(_same(a[k], b[k]) for k in a)


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return type(x) is type(y) and bool(x == y)
