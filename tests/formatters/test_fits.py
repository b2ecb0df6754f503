"""The FITS formatter: exact round trips, partial reads that read less, files astropy reads as expected."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import MaskedColumn, Table
from astropy.wcs import WCS
from hypothesis import given, settings
from hypothesis import strategies as st

from skybutler.astro import Box, Exposure, Image, Spectrum, TableSchema, select
from skybutler.astro._conversions import to_arrow, to_numpy, to_pandas
from skybutler.errors import FormatterError
from skybutler.formatters import formatters
from skybutler.formatters._fits import FitsFormatter
from skybutler.testing.astro import (
    FITS,
    CountingReader,
    assert_same,
    check_sip_round_trip,
    exposures,
    images,
    metadata,
    read_back,
    spectra,
    tables,
)

FMT = FitsFormatter()
CONVERT = {"AstropyTable": lambda t: t, "ArrowTable": to_arrow, "NumpyStructuredArray": to_numpy}


def _boxes(shape: tuple[int, ...]) -> st.SearchStrategy[Box]:
    return st.tuples(st.integers(0, shape[1]), st.integers(0, shape[0])).flatmap(
        lambda xy: st.builds(
            Box, st.just(xy[0]), st.just(xy[1]), st.integers(0, shape[1] - xy[0]), st.integers(0, shape[0] - xy[1])
        )
    )


def test_the_registry_names_it_fits() -> None:
    assert formatters.get("fits") is FitsFormatter


@settings(deadline=None, max_examples=60)
@given(image=images(FITS), data=st.data())
def test_image_round_trip_and_partial_reads(image: Image, data: st.DataObject) -> None:
    assert_same(read_back(FMT, image), image)
    assert_same(read_back(FMT, image, component="metadata"), image.metadata)
    assert_same(read_back(FMT, image, component="data"), image.array)
    box = data.draw(_boxes(image.shape))
    assert_same(read_back(FMT, image, parameters={"bbox": box}), image.cutout(box))
    assert_same(read_back(FMT, image, component="data", parameters={"bbox": box.slices}), image.array[box.slices])


@settings(deadline=None, max_examples=40)
@given(exposure=exposures(FITS), data=st.data())
def test_exposure_round_trip_components_and_cutouts(exposure: Exposure, data: st.DataObject) -> None:
    assert_same(read_back(FMT, exposure), exposure)
    box = data.draw(_boxes(exposure.shape))
    cutout = exposure.cutout(box)
    assert_same(read_back(FMT, exposure, parameters={"bbox": box}), cutout)
    for component in ("image", "mask", "variance", "metadata", "wcs", "visit_info"):
        for kwargs, source in (({}, exposure), ({"parameters": {"bbox": box}}, cutout)):
            got = read_back(FMT, exposure, component=component, **kwargs)
            expected = getattr(source, component)
            if expected is None:
                assert got is None
            else:
                assert_same(got, expected)


@settings(deadline=None, max_examples=40)
@given(spectrum=spectra(FITS), low=st.floats(300, 1000), width=st.floats(0, 400))
def test_spectrum_round_trip_and_wavelength_range(spectrum: Spectrum, low: float, width: float) -> None:
    assert_same(read_back(FMT, spectrum), spectrum)
    window = (low, low + width)
    assert_same(read_back(FMT, spectrum, parameters={"wavelength_range": window}), spectrum.select(window))
    for component in ("flux", "wavelength", "metadata"):
        assert_same(read_back(FMT, spectrum, component=component), getattr(spectrum, component))


@pytest.mark.parametrize("storage_class", sorted(CONVERT))
@settings(deadline=None, max_examples=30)
@given(table=tables(FITS), data=st.data())
def test_table_round_trip_columns_filters_schema(storage_class: str, table: Table, data: st.DataObject) -> None:
    obj = CONVERT[storage_class](table)
    full = read_back(FMT, obj)
    assert_same(full, obj)
    assert read_back(FMT, obj, component="rowcount") == len(table)
    assert read_back(FMT, obj, component="schema") == TableSchema.of(full)
    columns = data.draw(st.lists(st.sampled_from(table.colnames), min_size=1, unique=True))
    assert_same(read_back(FMT, obj, parameters={"columns": columns}), select(full, columns))
    numeric = [c for c in table.colnames if table[c].ndim == 1 and table[c].dtype.kind in "iuf"]
    if numeric:
        filters = [(numeric[0], ">", 0)]
        assert_same(read_back(FMT, obj, parameters={"filters": filters}), select(full, filters=filters))


@settings(deadline=None, max_examples=30)
@given(table=tables(FITS, multidim=False))
def test_dataframe_round_trip(table: Table) -> None:
    frame = to_pandas(table)
    full = read_back(FMT, frame)
    assert_same(full, frame)
    filters = [(table.colnames[0], "!=", 0)] if table[table.colnames[0]].dtype.kind in "iuf" else None
    if filters:
        assert_same(read_back(FMT, frame, parameters={"filters": filters}), select(full, filters=filters))


@settings(deadline=None, max_examples=60)
@given(meta=metadata(FITS, max_size=10))
def test_metadata_round_trips_exactly(meta: dict[str, Any]) -> None:
    assert_same(read_back(FMT, meta), meta)


def test_wcs_round_trip() -> None:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.1, 2.2]
    assert_same(read_back(FMT, wcs), wcs)


def test_sip_distortion_is_kept_in_wcs_exposure_and_cutout() -> None:
    check_sip_round_trip(FMT, Box(x0=10, y0=5, width=30, height=20))


def test_floats_keep_every_digit() -> None:
    meta = {"TINY": 1.2345678901234567e-300, "lower key": -1.7976931348623157e308}
    assert read_back(FMT, meta) == meta


# -- the files are ordinary FITS -------------------------------------------------------------------------
def _exposure(n: int = 512) -> Exposure:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [n / 2, n / 2]
    wcs.wcs.cdelt = [-5e-5, 5e-5]
    rng = np.random.default_rng(1)
    return Exposure(
        rng.normal(size=(n, n)).astype("f4"),
        mask=rng.integers(0, 4, (n, n)).astype("i4"),
        variance=np.ones((n, n), "f4"),
        metadata={"EXPTIME": 30.0, "FILTER": "r"},
        wcs=wcs,
        visit_info={"airmass": 1.2, "exposure time": 30.0},
    )


def test_exposure_file_opens_in_astropy_with_named_hdus(tmp_path: Path) -> None:
    exposure = _exposure(64)
    path = tmp_path / "calexp.fits"
    with open(path, "wb") as stream:
        FMT.write(exposure, stream)
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "IMAGE", "MASK", "VARIANCE", "VISIT_INFO"]
        assert hdul[0].header["SBCLASS"] == "Exposure"
        assert hdul[0].header["FILTER"] == "r"
        assert hdul["VISIT_INFO"].header["exposure time"] == 30.0
        np.testing.assert_array_equal(hdul["IMAGE"].data, exposure.image)
        sky = WCS(hdul["IMAGE"].header).pixel_to_world_values(10, 20)
        np.testing.assert_allclose(sky, exposure.wcs.pixel_to_world_values(10, 20))


def test_table_file_opens_in_astropy(tmp_path: Path) -> None:
    table = Table({"ra": [1.0, 2.0], "name": ["a", "bc"]}, meta={"SURVEY": "x"})
    table["ra"].unit = "deg"
    path = tmp_path / "src.fits"
    with open(path, "wb") as stream:
        FMT.write(table, stream)
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "TABLE"]
        assert hdul["TABLE"].header["TUNIT1"] == "deg"
    assert Table.read(path, hdu="TABLE")["ra"].unit == "deg"


def test_a_plain_fits_image_reads_as_an_image() -> None:
    buffer = io.BytesIO()
    fits.PrimaryHDU(np.arange(6, dtype="i2").reshape(2, 3), header=fits.Header([("OBJECT", "M31")])).writeto(buffer)
    buffer.seek(0)
    image = FMT.read(buffer)
    assert image.metadata == {"OBJECT": "M31"}
    np.testing.assert_array_equal(image.array, np.arange(6).reshape(2, 3))


# -- partial reads read less -----------------------------------------------------------------------------
def _written(tmp_path: Path, obj: Any) -> Path:
    path = tmp_path / "x.fits"
    with open(path, "wb") as stream:
        FMT.write(obj, stream)
    return path


def _counted(path: Path, **kwargs: Any) -> tuple[Any, int]:
    with open(path, "rb") as raw:
        reader = CountingReader(raw)
        obj = FMT.read(reader, **kwargs)  # type: ignore[arg-type]
        return obj, reader.bytes_read


def test_components_and_cutouts_read_a_fraction_of_the_file(tmp_path: Path) -> None:
    exposure = _exposure()
    path = _written(tmp_path, exposure)
    size = path.stat().st_size
    _, full = _counted(path)
    assert full > 0.99 * size
    for component in ("wcs", "metadata", "visit_info"):
        got, read = _counted(path, component=component)
        assert_same(got, getattr(exposure, component))
        assert read < 7 * 2880, f"{component} read {read} bytes"  # headers only, never pixels
    got, read = _counted(path, component="mask")
    assert_same(got, exposure.mask)
    assert read < size / 3 + 4 * 2880  # one plane of three
    box = Box(x0=100, y0=200, width=50, height=40)
    got, read = _counted(path, parameters={"bbox": box})
    assert_same(got, exposure.cutout(box))
    # the band of 40 rows (512 pixels x 4 bytes) of each of the three planes, and the headers
    assert read <= 3 * 40 * 512 * 4 + 7 * 2880, f"a 50x40 cut-out read {read} of {size} bytes"


def test_table_schema_and_rowcount_read_only_the_header(tmp_path: Path) -> None:
    table = Table({f"c{i}": np.arange(20_000, dtype="f8") for i in range(5)})
    path = _written(tmp_path, table)
    for component in ("schema", "rowcount"):
        _, read = _counted(path, component=component)
        assert read < 4 * 2880


# -- what FITS cannot keep is refused, naming the key ------------------------------------------------------
@pytest.mark.parametrize(
    ("meta", "why"),
    [
        ({"OBJECT": "Andromède"}, "ASCII"),
        ({"SEEING": float("nan")}, "nan"),
        ({"NAME": "trailing  "}, "trailing spaces"),
        ({"a": 1, "A": 2}, "ignore case"),
        ({"NAXIS": 3}, "layout"),
        ({"SBCLASS": "x"}, "layout"),
        ({"BIG": 2**70}, "64 bits"),
        ({"k=v": 1}, "printable ASCII"),
        ({"x": [1, 2]}, "bool, int, float, str or None"),
        ({"NOTE": "a'/b"}, "read back as"),  # astropy would read this back as "a'"
    ],
)
def test_metadata_fits_cannot_keep_is_refused(meta: dict[str, Any], why: str) -> None:
    with pytest.raises(FormatterError, match=why):
        FMT.write(meta, io.BytesIO())


def test_pixel_and_column_types_fits_lacks_are_refused() -> None:
    with pytest.raises(FormatterError, match="float16"):
        FMT.write(Image(np.zeros((2, 2), "f2")), io.BytesIO())
    with pytest.raises(FormatterError, match="int8"):
        FMT.write(Table({"a": np.zeros(2, "i1")}), io.BytesIO())
    with pytest.raises(FormatterError, match="index"):
        FMT.write(to_pandas(Table({"a": [1, 2]})).set_index("a"), io.BytesIO())
    with pytest.raises(FormatterError, match="writes Image"):
        FMT.write(object(), io.BytesIO())


@pytest.mark.parametrize(
    "column", [np.array(["a  ", "b"]), np.array([b"x ", b"y"]), np.array([["a", "b "]])], ids=["str", "bytes", "2-D"]
)
def test_text_columns_with_trailing_spaces_are_refused_not_stripped(column: Any) -> None:
    # FITS pads text with blanks and drops them on reading: "a  " would come back as "a"
    with pytest.raises(FormatterError, match="trailing spaces"):
        FMT.write(Table({"s": column}), io.BytesIO())


@pytest.mark.parametrize(
    "column",
    [
        MaskedColumn([1.5, 2.5, 3.5], mask=[False, True, False]),
        MaskedColumn(["x", "y", "z"], mask=[False, True, False]),
        MaskedColumn([True, False, True], mask=[False, True, False]),
    ],
    ids=["float", "str", "bool"],
)
def test_missing_values_fits_cannot_mark_are_refused_not_filled(column: Any) -> None:
    # FITS has TNULL for integer columns only: these came back unmasked as NaN, "" and True
    with pytest.raises(FormatterError, match="missing"):
        FMT.write(Table({"a": column}), io.BytesIO())
    assert_same(read_back(FMT, Table({"a": column.filled()})), Table({"a": column.filled()}))


@pytest.mark.parametrize("dtype", ["u1", "i2", "u2", "i4", "u4", "i8", "u8"])
def test_masked_integers_round_trip_whatever_values_they_hold(dtype: str) -> None:
    # astropy's TNULL is the fill value (999999 by default): a real 999999 read back masked
    info = np.iinfo(dtype)
    values = [info.min, info.max, min(info.max, 999999), min(info.max, 2**63 - 1), 7]
    table = Table({"a": MaskedColumn(np.array(values, dtype), mask=[False] * 4 + [True])})
    got = read_back(FMT, table)
    assert np.ma.getmaskarray(got["a"]).tolist() == [False] * 4 + [True]
    assert np.ma.getdata(got["a"])[:4].tolist() == values[:4]
    assert table["a"].fill_value == MaskedColumn([1], dtype=dtype).fill_value  # the caller's table is untouched


def test_bytes_columns_read_back_as_str_of_the_same_text() -> None:
    # documented in formats.md: FITS has one character type
    got = read_back(FMT, Table({"s": np.array([b"ab", b"c", b""])}))
    assert got["s"].dtype == np.dtype("<U2")
    assert got["s"].tolist() == ["ab", "c", ""]


def test_nullable_integer_dataframes_round_trip() -> None:
    # the masked columns FITS reads became float64 in pandas, rounding values beyond 2**53
    frame = pd.DataFrame(
        {"id": pd.array([2**62 + 1, None, 5], dtype="Int64"), "u": pd.array([2**64 - 1, None, 5], dtype="UInt64")}
    )
    assert_same(read_back(FMT, frame), frame)


def test_masked_integers_using_every_value_are_refused() -> None:
    column = MaskedColumn(np.arange(257) % 256, mask=[False] * 256 + [True], dtype="u1")
    with pytest.raises(FormatterError, match="every uint8 value"):
        FMT.write(Table({"a": column}), io.BytesIO())


def test_bad_read_requests_are_refused() -> None:
    image = Image(np.zeros((4, 4), "f4"))
    with pytest.raises(FormatterError, match="no component 'wcs'"):
        read_back(FMT, image, component="wcs")
    with pytest.raises(FormatterError, match="Unknown read parameter"):
        read_back(FMT, image, parameters={"columns": ["a"]})
    with pytest.raises(FormatterError, match="outside the image"):
        read_back(FMT, image, parameters={"bbox": Box(2, 2, 3, 3)})
    with pytest.raises(FormatterError, match="No column"):
        read_back(FMT, Table({"a": [1]}), parameters={"columns": ["b"]})
    with pytest.raises(FormatterError, match="operator"):
        read_back(FMT, Table({"a": [1]}), parameters={"filters": [("a", "~", 1)]})
