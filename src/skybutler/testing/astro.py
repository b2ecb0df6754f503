"""Test support for astronomy formats: hypothesis strategies, exact comparisons and a byte-counting reader.

A formatter plug-in can reuse these to test its own round trips::

    @given(image=images(HDF5))
    def test_round_trip(image):
        assert_same(read_back(MyFormatter(), image), image)

`Capabilities` says what a format keeps exactly (unicode, NaN in metadata, dtypes), so the strategies only
generate what it should round-trip; what it cannot keep is tested separately, as a clear refusal.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skybutler.astro import Exposure, Image, Spectrum, TableSchema, arrays_equal, metadata_equal, wcs_equal
from skybutler.astro._metadata import fits_structural

if TYPE_CHECKING:
    from skybutler.formatters import Formatter

__all__ = [
    "FITS",
    "HDF5",
    "PARQUET",
    "Capabilities",
    "CountingReader",
    "assert_same",
    "check_sip_round_trip",
    "exposures",
    "images",
    "metadata",
    "read_back",
    "spectra",
    "tables",
    "tan_sip_wcs",
]

UNITS = ("deg", "mag", "nJy", "arcsec", "mas / yr", "erg / (Angstrom s cm2)", "ct", "electron", "dex", "pix")


@dataclass(frozen=True)
class Capabilities:
    """What a format keeps exactly; the strategies generate only that."""

    unicode: bool
    """Non-ASCII text in metadata, string columns and column names."""
    nan_metadata: bool
    """NaN and infinities as metadata values."""
    image_dtypes: tuple[str, ...]
    table_dtypes: tuple[str, ...]
    case_sensitive_keys: bool = True


_INTS = ("i2", "i4", "i8", "u2", "u4", "u8", "u1")
FITS = Capabilities(
    unicode=False,
    nan_metadata=False,
    image_dtypes=("i1", *_INTS, "f4", "f8"),
    table_dtypes=("?", "i2", "i4", "i8", "u2", "u4", "u8", "u1", "f4", "f8", "U"),
    case_sensitive_keys=False,
)
HDF5 = Capabilities(
    unicode=True,
    nan_metadata=True,
    image_dtypes=("?", "i1", *_INTS, "f2", "f4", "f8", "c8", "c16"),
    table_dtypes=("?", "i1", *_INTS, "f2", "f4", "f8", "c16", "U", "S"),
)
PARQUET = Capabilities(
    unicode=True,
    nan_metadata=True,
    image_dtypes=(),
    table_dtypes=("?", "i1", *_INTS, "f2", "f4", "f8", "U", "S"),
)

_QUOTE_SLASH = re.compile(r"'\s*/")
_ASCII = st.characters(min_codepoint=32, max_codepoint=126)
_UNICODE = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")


def _text(cap: Capabilities, max_size: int = 40) -> st.SearchStrategy[str]:
    if cap.unicode:
        return st.text(_UNICODE, max_size=max_size)
    # astropy misreads a quote followed by a slash ("it's 1/2") as the start of a comment; the FITS
    # formatter refuses such strings (tested), so they are not generated here.
    return st.text(_ASCII, max_size=max_size).filter(lambda s: s == s.rstrip(" ") and not _QUOTE_SLASH.search(s))


#: Metadata keys the table formats keep for themselves (Arrow schema metadata); refused on write.
_RESERVED = frozenset({"pandas", "PANDAS_ATTRS", "skybutler.meta", "skybutler.storage_class", "ARROW:schema"})


def _key(cap: Capabilities) -> st.SearchStrategy[str]:
    if cap.unicode:
        return st.text(_UNICODE, min_size=1, max_size=16).filter(lambda k: k not in _RESERVED)
    return st.text(_ASCII, min_size=1, max_size=16).filter(
        lambda k: k == k.strip() and "=" not in k and not fits_structural(k.upper())
        and k.upper() not in ("SBCLASS", "SBDTYPE", "COMMENT", "HISTORY", "HIERARCH", "CONTINUE")
        and not k.upper().startswith("HIERARCH") and k not in _RESERVED
    )  # fmt: skip


def metadata(cap: Capabilities, max_size: int = 6) -> st.SearchStrategy[dict[str, Any]]:
    """Ordered metadata a format with ``cap`` keeps exactly."""
    values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=cap.nan_metadata, allow_infinity=cap.nan_metadata),
        _text(cap),
    )
    unique_by = None if cap.case_sensitive_keys else str.upper
    pairs = st.lists(st.tuples(_key(cap), values), max_size=max_size, unique_by=lambda kv: (unique_by or str)(kv[0]))
    return pairs.map(dict)


def _dtypes(names: tuple[str, ...]) -> st.SearchStrategy[np.dtype[Any]]:
    """The dtypes named, in both byte orders where that means something."""
    return st.sampled_from(names).flatmap(
        lambda n: st.sampled_from(
            [np.dtype(n)] if np.dtype(n).itemsize == 1 else [np.dtype("<" + n), np.dtype(">" + n)]
        )
    )


def _array(dtype: np.dtype[Any], shape: Any, cap: Capabilities) -> st.SearchStrategy[Any]:
    elements: st.SearchStrategy[Any] | None = None
    if dtype.kind == "U":
        elements = _text(cap, dtype.itemsize // 4)
    elif dtype.kind == "S":
        elements = st.binary(max_size=dtype.itemsize).map(lambda b: b.rstrip(b"\x00"))
    return hnp.arrays(dtype, shape, elements=elements)


@st.composite
def images(draw: st.DrawFn, cap: Capabilities) -> Image:
    """2-D images of the format's pixel types (NaNs included), with metadata."""
    dtype = draw(_dtypes(cap.image_dtypes))
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12))
    return Image(draw(_array(dtype, shape, cap)), draw(metadata(cap)))


@st.composite
def wcses(draw: st.DrawFn) -> Any:
    """Simple celestial TAN WCSs, or ``None``."""
    if draw(st.booleans()):
        return None
    from astropy.wcs import WCS

    finite = st.floats(-1e3, 1e3, allow_nan=False)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [draw(st.floats(0, 359)), draw(st.floats(-89, 89))]
    wcs.wcs.crpix = [draw(finite), draw(finite)]
    scale = draw(st.floats(1e-6, 1e-2))
    wcs.wcs.cdelt = [-scale, scale]
    return wcs


@st.composite
def exposures(draw: st.DrawFn, cap: Capabilities) -> Exposure:
    """Exposures with float32 image/variance and int32 mask planes (mask/variance sometimes absent)."""
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=10))
    image = draw(_array(np.dtype(draw(st.sampled_from(["<f4", ">f4"]))), shape, cap))
    mask = draw(st.none() | _array(np.dtype("i4"), shape, cap))
    variance = draw(st.none() | _array(np.dtype("f4"), shape, cap))
    return Exposure(
        image, mask=mask, variance=variance, metadata=draw(metadata(cap)), wcs=draw(wcses()),
        visit_info=draw(metadata(cap)),
    )  # fmt: skip


@st.composite
def spectra(draw: st.DrawFn, cap: Capabilities) -> Spectrum:
    """Spectra with sorted or unsorted wavelengths, an optional bool or int mask, units and metadata."""
    n = draw(st.integers(1, 16))
    flux = draw(_array(np.dtype(draw(st.sampled_from(["f4", ">f8"]))), n, cap))
    wavelength = draw(hnp.arrays("f8", n, elements=st.floats(300, 1000)))
    if draw(st.booleans()):
        wavelength = np.sort(wavelength)
    mask = draw(st.none() | hnp.arrays(draw(st.sampled_from(["?", "i2"])), n))
    unit = st.none() | st.sampled_from(UNITS)
    return Spectrum(flux, wavelength, mask, draw(unit), draw(unit), draw(metadata(cap)))


def _column_name(cap: Capabilities) -> st.SearchStrategy[str]:
    if cap.unicode:
        return st.text(_UNICODE, min_size=1, max_size=10).filter(lambda n: "/" not in n and n != ".")
    return st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,9}", fullmatch=True)


@st.composite
def tables(draw: st.DrawFn, cap: Capabilities, *, multidim: bool = True, meta: bool = True) -> Any:
    """astropy tables (0 to 12 rows) with units, descriptions and metadata; NaNs, unicode, both byte orders."""
    from astropy import units
    from astropy.table import Column, Table

    n = draw(st.integers(0, 12))
    unique_by = str if cap.case_sensitive_keys else str.upper
    names = draw(st.lists(_column_name(cap), min_size=1, max_size=5, unique_by=unique_by))
    columns = []
    for name in names:
        dtype = draw(_dtypes(tuple(d for d in cap.table_dtypes if d not in "US")) | _strings(cap))
        shape: tuple[int, ...] = (n,)
        if multidim and dtype.kind in "if" and draw(st.booleans()):
            shape = (n, draw(st.integers(1, 3)))
        data = draw(_array(dtype, shape, cap))
        unit = draw(st.none() | st.sampled_from(UNITS)) if dtype.kind == "f" else None
        description = draw(st.none() | st.from_regex(r"[a-z][a-z ]{0,20}[a-z]", fullmatch=True))
        columns.append(
            Column(data, name=name, unit=None if unit is None else units.Unit(unit), description=description)
        )
    return Table(columns, meta=draw(metadata(cap)) if meta else {})


def _strings(cap: Capabilities) -> st.SearchStrategy[np.dtype[Any]]:
    kinds = [k for k in ("U", "S") if k in cap.table_dtypes]
    if not kinds:
        return st.nothing()
    return st.tuples(st.sampled_from(kinds), st.integers(1, 8)).map(lambda kw: np.dtype(f"{kw[0]}{kw[1]}"))


# -- comparison -------------------------------------------------------------------------------------------
def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)


def _same_meta(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Table metadata: same keys and values (NaN equal); order is not compared."""
    return set(a) == set(b) and all(_same_value(a[k], b[k]) for k in a)


def assert_same(got: Any, expected: Any) -> None:
    """Assert two objects of the same storage class hold the same data (NaN equal, byte order ignored)."""
    from skybutler.astro._tables import table_kind

    if isinstance(expected, Image | Exposure | Spectrum):
        assert got == expected, f"{got!r} != {expected!r}"
    elif isinstance(expected, dict):
        assert metadata_equal(got, expected), f"{got!r} != {expected!r}"
    elif isinstance(expected, TableSchema):
        assert got == expected, f"{got} != {expected}"
    elif type(expected).__module__.startswith("astropy.wcs"):
        assert wcs_equal(got, expected)
    elif isinstance(expected, np.ndarray) and expected.dtype.names is None:
        assert arrays_equal(got, expected), f"{got!r} != {expected!r}"
    else:
        kind = table_kind(expected)
        assert table_kind(got) == kind, f"a {table_kind(got)} table, expected {kind}"
        _assert_same_table(got, expected, kind)


def _assert_same_table(got: Any, expected: Any, kind: str) -> None:
    if kind == "pandas":
        import pandas as pd

        pd.testing.assert_frame_equal(got, expected, check_index_type="equiv")
        assert got.attrs == expected.attrs, f"attrs {got.attrs} != {expected.attrs}"
        return
    if kind == "numpy":
        assert arrays_equal(np.ma.getdata(got), np.ma.getdata(expected))
        assert np.array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(expected))
        return
    assert TableSchema.of(got) == TableSchema.of(expected), f"{TableSchema.of(got)} != {TableSchema.of(expected)}"
    if kind == "arrow":
        from skybutler.astro._conversions import arrow_column_to_numpy

        assert got.schema.metadata == expected.schema.metadata
        for i, field in enumerate(expected.schema):
            a, a_mask = arrow_column_to_numpy(field, got.column(i))
            b, b_mask = arrow_column_to_numpy(field, expected.column(i))
            assert arrays_equal(a, b), f"column {field.name!r}: {a!r} != {b!r}"
            assert (a_mask is None) == (b_mask is None)
        return
    assert _same_meta(got.meta, expected.meta), f"meta {got.meta} != {expected.meta}"
    for name in expected.colnames:
        assert arrays_equal(np.ma.getdata(got[name]), np.ma.getdata(expected[name])), f"column {name!r}"
        assert np.array_equal(np.ma.getmaskarray(got[name]), np.ma.getmaskarray(expected[name])), f"mask of {name!r}"


# -- I/O helpers ------------------------------------------------------------------------------------------
class CountingReader(io.RawIOBase):
    """A seekable reader that counts the bytes read through it (to show a partial read reads less)."""

    def __init__(self, raw: Any) -> None:
        super().__init__()
        self._raw = raw
        self.bytes_read = 0

    def readinto(self, buffer: Any) -> int:
        count = int(self._raw.readinto(buffer))
        self.bytes_read += count
        return count

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._raw.seek(offset, whence))

    def tell(self) -> int:
        return int(self._raw.tell())

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True


def read_back(formatter: Formatter, obj: Any, **kwargs: Any) -> Any:
    """Write ``obj`` with ``formatter`` to memory and read it back (``component=``, ``parameters=``)."""
    buffer = io.BytesIO()
    formatter.write(obj, buffer)
    buffer.seek(0)
    return formatter.read(buffer, **kwargs)


def tan_sip_wcs() -> Any:
    """A TAN-SIP WCS, as astrometric solutions (astrometry.net, HSC, LSST) come."""
    from astropy.wcs import WCS, Sip

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    wcs.wcs.crval = [150.1, 2.2]
    wcs.wcs.crpix = [50.0, 40.0]
    wcs.wcs.cd = [[-1e-4, 1e-6], [2e-6, 1e-4]]
    a, b = np.zeros((3, 3)), np.zeros((3, 3))
    a[0, 2], a[2, 0], b[1, 1] = 1e-6, -2e-7, 3e-7
    wcs.sip = Sip(a, b, None, None, wcs.wcs.crpix)
    return wcs


def check_sip_round_trip(formatter: Formatter, box: Any) -> None:
    """A TAN-SIP WCS keeps its distortion through ``formatter``: alone, as an exposure's component, and cut out
    by ``box`` (a `Box` at x0=10, y0=5).  ``WCS.to_header`` drops SIP unless asked: it came back as plain TAN."""
    from numpy.testing import assert_allclose

    wcs = tan_sip_wcs()
    pixels = np.array([[3.0, 7.0], [90.0, 70.0]])
    got = read_back(formatter, wcs)
    assert got.sip is not None
    assert_allclose(got.all_pix2world(pixels, 0), wcs.all_pix2world(pixels, 0), rtol=0, atol=1e-12)
    exposure = Exposure(np.zeros((80, 100), "f4"), wcs=wcs)
    component = read_back(formatter, exposure, component="wcs")
    assert_allclose(component.all_pix2world(pixels, 0), wcs.all_pix2world(pixels, 0), rtol=0, atol=1e-12)
    cut = read_back(formatter, exposure, component="wcs", parameters={"bbox": box})
    assert_allclose(cut.all_pix2world([[3.0, 7.0]], 0), wcs.all_pix2world([[13.0, 12.0]], 0), rtol=0, atol=1e-12)
