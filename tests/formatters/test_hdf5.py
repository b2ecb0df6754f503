"""The HDF5 formatter: exact round trips (unicode, NaN, every dtype), partial reads that read less, plain h5py."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from astropy.table import MaskedColumn, Table
from astropy.wcs import WCS
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from skybutler.astro import Box, Exposure, Image, Spectrum, TableSchema, select
from skybutler.astro._conversions import to_arrow, to_numpy, to_pandas
from skybutler.errors import FormatterError
from skybutler.formatters._hdf5 import Hdf5Formatter
from skybutler.testing.astro import (
    HDF5,
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

FMT = Hdf5Formatter()
CONVERT = {"AstropyTable": lambda t: t, "ArrowTable": to_arrow, "NumpyStructuredArray": to_numpy}


def _boxes(shape: tuple[int, ...]) -> st.SearchStrategy[Box]:
    return st.tuples(st.integers(0, shape[1]), st.integers(0, shape[0])).flatmap(
        lambda xy: st.builds(
            Box, st.just(xy[0]), st.just(xy[1]), st.integers(0, shape[1] - xy[0]), st.integers(0, shape[0] - xy[1])
        )
    )


def _has_complex(table: Table) -> bool:
    return any(table[c].dtype.kind == "c" for c in table.colnames)


def _pandas_can_hold(table: Table) -> bool:
    """pandas has no complex Arrow type nor a bytes dtype (bytes become Python objects)."""
    return not any(table[c].dtype.kind in "cS" for c in table.colnames)


def _through_file(tmp_path: Path, obj: Any, **kwargs: Any) -> Any:
    """Write with `write_file` (as the datastore does) and read back from an open file."""
    path = tmp_path / "x.h5"
    FMT.write_file(obj, path)
    with open(path, "rb") as stream:
        return FMT.read(stream, **kwargs)


def test_it_asks_the_datastore_for_a_local_file() -> None:
    assert Hdf5Formatter.writes_streams is False


@settings(deadline=None, max_examples=60)
@given(image=images(HDF5), data=st.data())
def test_image_round_trip_and_partial_reads(image: Image, data: st.DataObject) -> None:
    assert_same(read_back(FMT, image), image)
    assert_same(read_back(FMT, image, component="metadata"), image.metadata)
    box = data.draw(_boxes(image.shape))
    assert_same(read_back(FMT, image, parameters={"bbox": box}), image.cutout(box))
    assert_same(read_back(FMT, image, component="data", parameters={"bbox": box.slices}), image.array[box.slices])


@settings(deadline=None, max_examples=40)
@given(exposure=exposures(HDF5), data=st.data())
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
@given(spectrum=spectra(HDF5), low=st.floats(300, 1000), width=st.floats(0, 400))
def test_spectrum_round_trip_and_wavelength_range(spectrum: Spectrum, low: float, width: float) -> None:
    assert_same(read_back(FMT, spectrum), spectrum)
    window = (low, low + width)
    assert_same(read_back(FMT, spectrum, parameters={"wavelength_range": window}), spectrum.select(window))
    assert_same(read_back(FMT, spectrum, component="flux"), spectrum.flux)


@pytest.mark.parametrize("storage_class", sorted(CONVERT))
@settings(deadline=None, max_examples=30)
@given(table=tables(HDF5), data=st.data())
def test_table_round_trip_columns_filters_schema(storage_class: str, table: Table, data: st.DataObject) -> None:
    assume(storage_class != "ArrowTable" or not _has_complex(table))  # Arrow has no complex type
    obj = CONVERT[storage_class](table)
    full = read_back(FMT, obj)
    assert_same(full, obj)
    assert read_back(FMT, obj, component="rowcount") == len(table)
    assert read_back(FMT, obj, component="schema") == TableSchema.of(full)
    columns = data.draw(st.lists(st.sampled_from(table.colnames), min_size=1, unique=True))
    assert_same(read_back(FMT, obj, parameters={"columns": columns}), select(full, columns))
    numeric = [c for c in table.colnames if table[c].ndim == 1 and table[c].dtype.kind in "iuf"]
    if numeric:
        filters = [(numeric[0], "<=", 0)]
        got = read_back(FMT, obj, parameters={"filters": filters, "columns": columns})
        assert_same(got, select(full, columns, filters))


@settings(deadline=None, max_examples=30)
@given(table=tables(HDF5, multidim=False))
@example(table=Table({"0": np.array([np.nan], dtype="f2")}))  # a masked float16 column (pandas NaN → null)
def test_dataframe_round_trip_keeps_row_labels_through_filters(table: Table) -> None:
    assume(_pandas_can_hold(table))
    frame = to_pandas(table)
    full = read_back(FMT, frame)
    assert_same(full, frame)
    first = table.colnames[0]
    if table[first].dtype.kind in "iuf":
        filters = [(first, ">", 0)]
        assert_same(read_back(FMT, frame, parameters={"filters": filters}), select(full, filters=filters))


@settings(deadline=None, max_examples=60)
@given(meta=metadata(HDF5, max_size=10))
def test_metadata_round_trips_exactly_with_unicode_and_nan(meta: dict[str, Any]) -> None:
    assert_same(read_back(FMT, meta), meta)


def test_masked_columns_keep_their_masks(tmp_path: Path) -> None:
    table = Table([MaskedColumn([1, 2, 3], name="a", mask=[False, True, False]), MaskedColumn([1.5, 2, 3], name="b")])
    got = _through_file(tmp_path, table)
    assert_same(got, table)
    filtered = _through_file(tmp_path, table, parameters={"filters": [("a", ">=", 0)]})
    assert list(filtered["a"]) == [1, 3]  # a missing value passes no filter, as in Arrow


def test_large_filters_read_rows_from_memory_with_the_same_result(tmp_path: Path) -> None:
    table = Table({"a": np.arange(20_000), "s": np.array([f"row {i}" for i in range(20_000)])})
    got = _through_file(tmp_path, table, parameters={"filters": [("a", ">", 10)], "columns": ["s"]})
    assert_same(got, select(table, ["s"], [("a", ">", 10)]))


# -- the files are ordinary HDF5 -------------------------------------------------------------------------
def _exposure(n: int = 512) -> Exposure:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [n / 2, n / 2]
    wcs.wcs.cdelt = [-5e-5, 5e-5]
    rng = np.random.default_rng(2)
    return Exposure(
        rng.normal(size=(n, n)).astype("f4"),
        mask=rng.integers(0, 4, (n, n)).astype("i4"),
        variance=np.ones((n, n), "f4"),
        metadata={"EXPTIME": 30.0, "filter": "r", "observer": "Zoë"},
        wcs=wcs,
        visit_info={"airmass": 1.2},
    )


def test_exposure_file_opens_in_h5py_with_the_expected_groups(tmp_path: Path) -> None:
    exposure = _exposure(32)
    path = tmp_path / "calexp.h5"
    FMT.write_file(exposure, path)
    with h5py.File(path, "r") as f:
        assert list(f) == ["image", "mask", "variance", "metadata", "wcs", "visit_info"]
        assert f.attrs["skybutler_storage_class"] == "Exposure"
        assert f["metadata"].attrs["observer"] == "Zoë"
        assert f["wcs"].attrs["CTYPE1"] == "RA---TAN"
        np.testing.assert_array_equal(f["mask"][()], exposure.mask)


def test_table_file_is_one_dataset_per_column(tmp_path: Path) -> None:
    table = Table({"ra": [1.0, 2.0], "name": ["Zoë", "Ångström"]}, meta={"survey": "x"})
    table["ra"].unit = "deg"
    path = tmp_path / "src.h5"
    FMT.write_file(table, path)
    with h5py.File(path, "r") as f:
        assert list(f["table"]) == ["ra", "name"]
        assert f["table/ra"].attrs["unit"] == "deg"
        assert list(f["table/name"].asstr()[()]) == ["Zoë", "Ångström"]
        assert f["metadata"].attrs["survey"] == "x"


def test_streamed_and_file_writes_read_the_same(tmp_path: Path) -> None:
    exposure = _exposure(16)
    buffer = io.BytesIO()
    FMT.write(exposure, buffer)
    buffer.seek(0)
    assert_same(FMT.read(buffer), _through_file(tmp_path, exposure))


# -- local files: opened by name, no sieve buffer, read-ahead of the band ------------------------------------
@settings(deadline=None, max_examples=40)
@given(exposure=exposures(HDF5), data=st.data())
def test_cutouts_of_a_local_file_equal_those_through_a_stream(
    tmp_path_factory: pytest.TempPathFactory, exposure: Exposure, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("local") / "x.h5"
    FMT.write_file(exposure, path)
    box = data.draw(_boxes(exposure.shape))
    with open(path, "rb") as stream:
        assert_same(FMT.read(stream, parameters={"bbox": box}), exposure.cutout(box))
    with open(path, "rb") as stream:
        got = FMT.read(stream, component="image", parameters={"bbox": box.slices})
    assert_same(got, exposure.image[box.slices])
    assert_same(got, read_back(FMT, exposure, component="image", parameters={"bbox": box.slices}))


def test_a_chunked_image_written_elsewhere_is_cut_out_too(tmp_path: Path) -> None:
    """A chunked dataset has no single file offset: the cut-out skips the read-ahead hint and still reads."""
    array = np.arange(300 * 200, dtype="f4").reshape(300, 200)
    path = tmp_path / "chunked.h5"
    with h5py.File(path, "w") as f:
        f.attrs["skybutler_storage_class"] = "Image"
        f.create_dataset("data", data=array, chunks=(64, 64), compression="gzip")
        f.create_group("metadata").attrs["EXPTIME"] = 30.0
    box = Box(x0=50, y0=120, width=100, height=70)
    with open(path, "rb") as stream:
        got = FMT.read(stream, parameters={"bbox": box})
    assert_same(got, Image(array[box.slices], {"EXPTIME": 30.0}))


def test_a_fixed_length_marker_written_elsewhere_is_read(tmp_path: Path) -> None:
    path = tmp_path / "fixed.h5"
    with h5py.File(path, "w") as f:
        f.attrs.create("skybutler_storage_class", np.bytes_("Image"))  # fixed-length, not variable-length
        f.create_dataset("data", data=np.ones((4, 5), "i2"))
        f.create_group("metadata")
    with open(path, "rb") as stream:
        assert_same(FMT.read(stream), Image(np.ones((4, 5), "i2"), {}))


def test_reads_leave_no_file_open(tmp_path: Path) -> None:
    """The file is closed by its id alone (not h5py's search of every open object): nothing stays open."""
    import os

    path = tmp_path / "x.h5"
    FMT.write_file(_exposure(32), path)
    fds = Path(f"/proc/{os.getpid()}/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc to count open files")
    box = Box(x0=1, y0=2, width=10, height=5)
    before = len(list(fds.iterdir())), h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_ALL)
    for kwargs in ({}, {"parameters": {"bbox": box}}, {"component": "wcs"}, {"component": "metadata"}) * 20:
        with open(path, "rb") as stream:
            FMT.read(stream, **kwargs)
    assert (len(list(fds.iterdir())), h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_ALL)) == before


# -- partial reads read less -----------------------------------------------------------------------------
def _counted(path: Path, **kwargs: Any) -> tuple[Any, int]:
    with open(path, "rb") as raw:
        reader = CountingReader(raw)
        obj = FMT.read(reader, **kwargs)  # type: ignore[arg-type]
        return obj, reader.bytes_read


def test_components_and_cutouts_read_a_fraction_of_the_file(tmp_path: Path) -> None:
    exposure = _exposure()
    path = tmp_path / "x.h5"
    FMT.write_file(exposure, path)
    size = path.stat().st_size
    _, full = _counted(path)
    assert full > 0.99 * 3 * 512 * 512 * 4
    for component in ("wcs", "metadata", "visit_info"):
        got, read = _counted(path, component=component)
        assert_same(got, getattr(exposure, component))
        assert read < 32_000, f"{component} read {read} of {size} bytes"
    got, read = _counted(path, component="variance")
    assert_same(got, exposure.variance)
    assert read < size / 3 + 32_000
    box = Box(x0=100, y0=200, width=50, height=40)
    got, read = _counted(path, parameters={"bbox": box})
    assert_same(got, exposure.cutout(box))
    assert read < 3 * 40 * 512 * 4 + 40_000, f"a 50x40 cut-out read {read} of {size} bytes"


def test_a_column_subset_reads_only_those_columns(tmp_path: Path) -> None:
    table = Table({f"c{i}": np.arange(50_000, dtype="f8") for i in range(10)})
    path = tmp_path / "t.h5"
    FMT.write_file(table, path)
    got, read = _counted(path, parameters={"columns": ["c3", "c7"]})
    assert got.colnames == ["c3", "c7"]
    assert read < 2 * 50_000 * 8 + 40_000
    _, read = _counted(path, component="rowcount")
    assert read < 40_000


# -- refusals ------------------------------------------------------------------------------------------
def test_what_hdf5_cannot_hold_is_refused() -> None:
    with pytest.raises(FormatterError, match="NUL"):
        FMT.write({"a": "x\x00y"}, io.BytesIO())
    with pytest.raises(FormatterError, match="64 bits"):
        FMT.write({"a": 2**64}, io.BytesIO())
    with pytest.raises(FormatterError, match="dataset name"):
        FMT.write(Table({"a/b": [1]}), io.BytesIO())
    with pytest.raises(FormatterError, match="index"):
        FMT.write(to_pandas(Table({"a": [1, 2]})).set_index("a"), io.BytesIO())


def test_a_file_not_written_by_skybutler_is_refused_clearly() -> None:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f["x"] = np.zeros(3)
    buffer.seek(0)
    with pytest.raises(FormatterError, match="reads only files it wrote"):
        FMT.read(buffer)


def test_sip_distortion_is_kept_in_wcs_exposure_and_cutout() -> None:
    check_sip_round_trip(FMT, Box(x0=10, y0=5, width=30, height=20))
