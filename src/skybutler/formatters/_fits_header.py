"""Metadata ↔ FITS header cards, exactly: every value written reads back equal, or the write is refused.

FITS headers are ASCII, keywords are upper case and at most 8 characters, strings lose trailing spaces
and floats may not be NaN.  Other keywords are written as ``HIERARCH`` cards (which keep their case),
floats whose shortest form is longer than the 20 characters astropy writes are written in full, and what
cannot be kept exactly raises `FormatterError` naming the key, rather than changing silently.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning

from skybutler.astro._metadata import COMMENTARY, fits_structural, metadata_from_header, plain_metadata
from skybutler.errors import FormatterError

__all__ = ["MARKER", "read_metadata", "write_metadata"]

#: Keyword recording the storage class a file was written as.
MARKER = "SBCLASS"
#: Keyword marking a boolean plane stored as uint8 (FITS images have no boolean type).
BOOL_MARKER = "SBDTYPE"
_OURS = (MARKER, BOOL_MARKER, "SBDSID", "SBRUN", "SBDSTYPE", "SBDATAID", "SBNINPUT", "SBINPUTS")  # + provenance
_STANDARD = re.compile(r"^[A-Z0-9_-]{1,8}$")
_INT64 = 2**63


def _ascii(text: str) -> bool:
    return all(32 <= ord(c) < 127 for c in text)


def _refuse(what: str, key: str, why: str) -> FormatterError:
    return FormatterError(f"Cannot write {what}[{key!r}] to a FITS header: {why}. Use HDF5 to keep it as it is.")


def _card(key: str, value: Any, what: str) -> fits.Card:
    if not key or not _ascii(key) or key != key.strip() or "=" in key:
        raise _refuse(what, key, "keywords are printable ASCII without '=' or surrounding spaces")
    if fits_structural(key.upper()) or key.upper() in _OURS:
        raise _refuse(what, key, "this keyword describes the file's layout and is written by the formatter")
    keyword = key if _STANDARD.match(key) else f"HIERARCH {key}"
    if isinstance(value, str):
        if not _ascii(value):
            raise _refuse(what, key, "string values are printable ASCII")
        if value != value.rstrip(" "):
            raise _refuse(what, key, "FITS drops trailing spaces from strings")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _refuse(what, key, f"{value} is not allowed in FITS headers")
        text = repr(value).upper()
        if len(text) > 20:  # astropy would round it to 16 digits: write the shortest exact form instead
            image = f"{key:8}= {text:>20}" if keyword == key else f"{keyword} = {text}"
            if len(image) > 80:
                raise _refuse(what, key, "the keyword and value do not fit on one 80-character card")
            return _verified(fits.Card.fromstring(image), key, value, what)
    elif isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        raise _refuse(what, key, "integers must fit in 64 bits")
    with warnings.catch_warnings():
        warnings.simplefilter("error", VerifyWarning)
        try:
            card = fits.Card(keyword, value)
            card.image  # noqa: B018 (formats the card now, so a card too long fails here, not at write)
        except (ValueError, VerifyWarning) as exc:
            raise _refuse(what, key, str(exc)) from None
    return _verified(card, key, value, what)


def _verified(card: fits.Card, key: str, value: Any, what: str) -> fits.Card:
    """Return ``card`` after checking that its 80-character image parses back to ``key`` and ``value``."""
    back = fits.Card.fromstring(card.image)
    got = None if isinstance(back.value, fits.card.Undefined) else back.value
    if back.keyword != key or type(got) is not type(value) or got != value:
        raise _refuse(what, key, f"it would read back as {back.keyword!r} = {got!r}")
    return card


def write_metadata(header: fits.Header, metadata: Mapping[str, Any] | None, what: str = "metadata") -> None:
    """Append ``metadata`` to ``header`` as cards (``COMMENT``/``HISTORY`` lists as one card per line).

    Raises
    ------
    FormatterError
        A key or value cannot be kept exactly in FITS; keys that differ only in case.
    """
    seen: dict[str, str] = {}
    for key, value in plain_metadata(metadata, what).items():
        folded = key.upper()
        if folded in seen:
            raise _refuse(what, key, f"FITS keywords ignore case, and {seen[folded]!r} is also present")
        seen[folded] = key
        if key in COMMENTARY:
            for line in [value] if isinstance(value, str) else value:
                if not _ascii(line):
                    raise _refuse(what, key, "commentary is printable ASCII")
                header.add_comment(line) if key == "COMMENT" else header.add_history(line)
            continue
        header.append(_card(key, value, what))


def read_metadata(header: fits.Header, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Return the cards of ``header`` that are metadata: not structural, not ours, not in ``skip``."""
    drop = set(skip) | set(_OURS)
    drop |= {card.keyword for card in header.cards if fits_structural(card.keyword)}
    return metadata_from_header(header, skip=drop)
