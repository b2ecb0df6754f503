"""Astronomy formats through the Butler: every storage class x formatter, components, parameters, conversion,
repository policy, data models, and what a missing optional library says."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from astropy.table import Table
from astropy.wcs import WCS

from skybutler import Butler
from skybutler.astro import Box, Exposure, Image, Spectrum, TableSchema, arrays_equal, select
from skybutler.astro._conversions import to_arrow, to_numpy, to_pandas
from skybutler.butler import DirectButler
from skybutler.errors import ConfigError, DatasetTypeError, FormatterError
from skybutler.testing.astro import assert_same
from skybutler.testing.sample import populate_sample

DIMS = ["instrument", "visit", "detector"]
DATA_ID = {"instrument": "Cam", "visit": 1, "detector": 2}
EXTENSIONS = {"fits": ".fits", "hdf5": ".h5", "parquet": ".parq", "yaml": ".yaml", "json": ".json"}


def _wcs() -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [16.5, 12.5]
    wcs.wcs.cdelt = [-5e-5, 5e-5]
    return wcs


def _exposure() -> Exposure:
    rng = np.random.default_rng(5)
    return Exposure(
        rng.normal(size=(24, 32)).astype("f4"),
        mask=rng.integers(0, 8, (24, 32)).astype("i4"),
        variance=np.full((24, 32), 2.0, "f4"),
        metadata={"EXPTIME": 30.0, "FILTER": "r"},
        wcs=_wcs(),
        visit_info={"airmass": 1.1, "exptime": 30.0},
    )


def _table() -> Table:
    table = Table(
        {"id": np.arange(6), "ra": np.linspace(10, 11, 6), "dec": np.linspace(-1, 1, 6), "name": list("abcdef")},
        meta={"survey": "demo"},
    )
    table["ra"].unit = "deg"
    table["dec"].unit = "deg"
    return table


SAMPLES: dict[str, Any] = {
    "Image": lambda: Image(np.arange(48, dtype="i4").reshape(6, 8), {"EXPTIME": 15.0}),
    "Exposure": _exposure,
    "Spectrum": lambda: Spectrum(np.linspace(1, 2, 9), np.linspace(400, 800, 9), np.zeros(9, bool), "nJy", "nm"),
    "Metadata": lambda: {"EXPTIME": 30.0, "OBSERVER": "Vera", "NIGHT": 20250101},
    "Wcs": _wcs,
    "AstropyTable": _table,
    "ArrowTable": lambda: to_arrow(_table()),
    "DataFrame": lambda: to_pandas(_table()),
    "NumpyStructuredArray": lambda: to_numpy(_table()),
}
COMBINATIONS = [
    (sc, fmt)
    for sc, fmts in {
        "Image": ("fits", "hdf5"),
        "Exposure": ("fits", "hdf5"),
        "Spectrum": ("fits", "hdf5"),
        "Metadata": ("fits", "hdf5", "yaml", "json"),
        "Wcs": ("fits", "hdf5"),
        "AstropyTable": ("fits", "hdf5", "parquet"),
        "ArrowTable": ("fits", "hdf5", "parquet"),
        "DataFrame": ("fits", "hdf5", "parquet"),
        "NumpyStructuredArray": ("fits", "hdf5", "parquet"),
    }.items()
    for fmt in fmts
]


@pytest.fixture
def formats_butler(butler: DirectButler) -> Iterator[DirectButler]:
    """The shared ``butler`` fixture's repository, opened with one dataset type per storage class x formatter."""
    formatters = {f"{sc}_{fmt}": fmt for sc, fmt in COMBINATIONS}
    with DirectButler(butler.root, run="test/run", config={"datastore": {"formatters": formatters}}) as b:
        for sc, fmt in COMBINATIONS:
            b.register_dataset_type(f"{sc}_{fmt}", DIMS, sc)
        yield b


@pytest.mark.parametrize(("storage_class", "fmt"), COMBINATIONS, ids=[f"{s}-{f}" for s, f in COMBINATIONS])
def test_every_storage_class_round_trips_in_every_format(
    formats_butler: DirectButler, storage_class: str, fmt: str
) -> None:
    name = f"{storage_class}_{fmt}"
    obj = SAMPLES[storage_class]()
    formats_butler.put(obj, name, DATA_ID)
    assert formats_butler.get_uri(name, DATA_ID).endswith(EXTENSIONS[fmt])
    assert_same(formats_butler.get(name, DATA_ID), obj)


@pytest.mark.parametrize("fmt", ["fits", "hdf5"])
def test_exposure_components_and_cutouts(formats_butler: DirectButler, fmt: str) -> None:
    name = f"Exposure_{fmt}"
    exposure = _exposure()
    formats_butler.put(exposure, name, DATA_ID)
    for component in ("image", "mask", "variance", "metadata", "wcs", "visit_info"):
        assert_same(formats_butler.get(f"{name}.{component}", DATA_ID), getattr(exposure, component))
    box = Box(x0=3, y0=4, width=10, height=7)
    assert_same(formats_butler.get(name, DATA_ID, parameters={"bbox": box}), exposure.cutout(box))
    cut_wcs = formats_butler.get(f"{name}.wcs", DATA_ID, parameters={"bbox": box})
    assert_same(cut_wcs, exposure.cutout(box).wcs)
    rows_cols = (slice(4, 11), slice(3, 13))
    assert_same(formats_butler.get(f"{name}.image", DATA_ID, parameters={"bbox": rows_cols}), exposure.image[rows_cols])
    handle = formats_butler.get_deferred(name, DATA_ID, parameters={"bbox": box})
    assert_same(handle.get(), exposure.cutout(box))


@pytest.mark.parametrize("fmt", ["fits", "hdf5", "parquet"])
def test_table_columns_filters_schema_rowcount(formats_butler: DirectButler, fmt: str) -> None:
    name = f"ArrowTable_{fmt}"
    table = to_arrow(_table())
    formats_butler.put(table, name, DATA_ID)
    full = formats_butler.get(name, DATA_ID)
    columns, filters = ["ra", "name"], [("dec", ">", 0.0)]
    got = formats_butler.get(name, DATA_ID, parameters={"columns": columns, "filters": filters})
    assert_same(got, select(full, columns, filters))
    assert formats_butler.get(f"{name}.rowcount", DATA_ID) == 6
    assert formats_butler.get(f"{name}.schema", DATA_ID) == TableSchema.of(full)


@pytest.mark.parametrize("fmt", ["fits", "hdf5", "parquet"])
@pytest.mark.parametrize("target", ["AstropyTable", "ArrowTable", "DataFrame", "NumpyStructuredArray"])
def test_tables_convert_on_read(formats_butler: DirectButler, fmt: str, target: str) -> None:
    name = f"ArrowTable_{fmt}"
    formats_butler.put(to_arrow(_table()), name, DATA_ID)
    got = formats_butler.get(name, DATA_ID, storage_class=target)
    if target == "DataFrame":
        assert isinstance(got, pd.DataFrame)
        assert got.attrs["units"] == {"ra": "deg", "dec": "deg"}
        assert got["ra"].tolist() == _table()["ra"].tolist()
    elif target == "NumpyStructuredArray":
        assert got.dtype.names == ("id", "ra", "dec", "name")
    elif target == "AstropyTable":
        assert_same(got, _table())
    else:
        assert_same(got, to_arrow(_table()))
    subset = formats_butler.get(name, DATA_ID, storage_class=target, parameters={"columns": ["dec"]})
    assert TableSchema.of(subset).names == ("dec",)


def test_a_plain_array_and_other_table_kinds_are_accepted_on_put(formats_butler: DirectButler) -> None:
    formats_butler.put(np.ones((3, 5), "f4"), "Image_fits", DATA_ID)
    assert formats_butler.get("Image_fits.data", DATA_ID).shape == (3, 5)
    formats_butler.put(pa.table({"x": [1, 2]}), "DataFrame_parquet", DATA_ID)
    assert isinstance(formats_butler.get("DataFrame_parquet", DATA_ID), pd.DataFrame)
    with pytest.raises(FormatterError, match=r"skybutler\.astro\.Image"):
        formats_butler.put("not an image", "Image_hdf5", DATA_ID)


def test_unknown_components_and_parameters_are_refused(formats_butler: DirectButler) -> None:
    formats_butler.put(SAMPLES["Image"](), "Image_fits", DATA_ID)
    with pytest.raises(DatasetTypeError, match="no component 'wcs'"):
        formats_butler.get("Image_fits.wcs", DATA_ID)
    with pytest.raises(FormatterError, match="Unknown read parameter"):
        formats_butler.get("Image_fits", DATA_ID, parameters={"columns": ["a"]})


# -- repository policy, recorded formatter, data models --------------------------------------------------
def _open(butler: DirectButler, datastore: dict[str, Any]) -> DirectButler:
    return DirectButler(butler.root, run="test/run", config={"datastore": datastore})


def test_prefer_hdf5_is_a_repository_policy_and_old_files_stay_readable(butler: DirectButler) -> None:
    butler.register_dataset_type("calexp", DIMS, "Exposure")
    butler.put(_exposure(), "calexp", DATA_ID)
    assert butler.get_uri("calexp", DATA_ID).endswith(".fits")  # the built-in default
    with _open(butler, {"prefer": ["hdf5"], "formatters": {"raw": "fits"}}) as policy:
        policy.register_dataset_type("calexp2", DIMS, "Exposure")
        policy.register_dataset_type("raw", DIMS, "Image")
        policy.register_dataset_type("notes", DIMS, "StructuredDataDict")
        policy.register_dataset_type("steps", DIMS, "StructuredDataList")
        policy.put(_exposure(), "calexp2", DATA_ID)
        policy.put(SAMPLES["Image"](), "raw", DATA_ID)
        policy.put({"a": [1]}, "notes", DATA_ID)
        policy.put([1, "two"], "steps", DATA_ID)
        assert policy.get_uri("calexp2", DATA_ID).endswith(".h5")
        assert policy.get_uri("raw", DATA_ID).endswith(".fits")  # a dataset type's own entry wins
        assert policy.get_uri("notes", DATA_ID).endswith(".h5")  # hdf5 writes nested dicts too
        assert policy.get("notes", DATA_ID) == {"a": [1]}
        assert policy.get_uri("steps", DATA_ID).endswith(".json")  # hdf5 does not write lists: the default
        assert_same(policy.get("calexp", DATA_ID), _exposure())  # written as FITS, read with the recorded formatter


def test_an_unsafe_formatter_cannot_be_the_repository_policy(butler: DirectButler) -> None:
    with _open(butler, {"prefer": ["pickle"]}) as policy, pytest.raises(ConfigError, match="prefer"):
        policy.register_dataset_type("calexp", DIMS, "Exposure")


def test_a_data_model_is_checked_before_anything_is_written(butler: DirectButler) -> None:
    model = {"src": {"required_columns": ["ra", "dec"], "units": {"ra": "deg"}}, "calexp": {"required_keys": ["BAND"]}}
    with _open(butler, {"data_models": model}) as strict:
        strict.register_dataset_type("src", DIMS, "AstropyTable")
        strict.register_dataset_type("calexp", DIMS, "Exposure")
        bad = Table({"ra": [1.0]})
        bad["ra"].unit = "rad"
        with pytest.raises(FormatterError, match=r"breaks its data model.*'dec'.*not 'deg'"):
            strict.put(bad, "src", DATA_ID)
        with pytest.raises(FormatterError, match="missing metadata key 'BAND'"):
            strict.put(_exposure(), "calexp", DATA_ID)
        assert not strict.exists("src", DATA_ID)
        assert not strict.exists("calexp", DATA_ID)
        assert not list(strict.datastore.files().transport.keys(".staging/"))
        strict.put(_table(), "src", DATA_ID)
        assert strict.exists("src", DATA_ID)


def test_hdf5_on_a_transport_without_local_files(registry_url: tuple[str, str | None]) -> None:
    url, schema = registry_url
    if url.startswith("sqlite"):
        pytest.skip("a repository in memory needs a PostgreSQL registry")
    root = Butler.create(
        f"mem://{uuid.uuid4().hex}/", registry=url, schema=schema, config={"datastore": {"prefer": ["hdf5"]}}
    )
    with DirectButler(root, run="test/run") as butler:
        populate_sample(butler)
        butler.register_dataset_type("calexp", DIMS, "Exposure")
        ref = butler.put(_exposure(), "calexp", DATA_ID)
        assert butler.get_uri(ref).endswith(".h5")
        assert_same(butler.get("calexp.mask", DATA_ID), _exposure().mask)


@pytest.mark.parametrize(
    ("module", "formatter", "hint"),
    [
        ("pyarrow", "parquet", "pip install 'skybutler[parquet]'"),  # an optional extra: named
        ("h5py", "hdf5", "pip install h5py"),  # a base dependency (issue 19 item 11): the package itself
    ],
)
def test_a_missing_library_says_what_to_install(tmp_path: Any, module: str, formatter: str, hint: str) -> None:
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from skybutler.formatters import formatters\n"
        f"try:\n    formatters.get({formatter!r})\n"
        "except ImportError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "MissingDependencyError" in out
    assert hint in out


@pytest.mark.parametrize("fmt", ["fits", "hdf5", "parquet"])
def test_big_endian_structured_arrays_keep_values_not_byte_order(tmp_path: Path, fmt: str) -> None:
    # formats.md: byte order is not kept; the values and the dtypes up to byte order are
    array = np.zeros(3, dtype=[("x", ">f8"), ("n", ">i4"), ("s", "S3")])
    array["x"], array["n"], array["s"] = [1.5, -2.0, 3e300], [1, -2, 2**31 - 1], [b"a", b"bc", b""]
    root = Butler.create(tmp_path / "repo")
    with DirectButler(root, run="run") as butler:
        populate_sample(butler)
        butler.register_dataset_type("cat", ["instrument", "visit", "detector"], "NumpyStructuredArray", format=fmt)
        butler.put(array, "cat", instrument="Cam", visit=1, detector=2)
        got = butler.get("cat", instrument="Cam", visit=1, detector=2)
    assert got["x"].tolist() == array["x"].tolist()
    assert got["n"].tolist() == array["n"].tolist()
    assert all(arrays_equal(got[name], array[name]) for name in ("x", "n"))  # dtypes equal up to byte order


@pytest.mark.parametrize("fmt", ["fits", "hdf5"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(24, dtype="<f8").reshape(2, 3, 4),
        np.arange(6, dtype="i2"),
        np.array([[True, False], [False, True]]),
        np.full((3, 2), 7, dtype="u1"),
    ],
    ids=["f8-3d", "i2-1d", "bool-2d", "u1-2d"],
)
def test_a_plain_array_goes_into_fits_and_hdf5(butler: DirectButler, fmt: str, array: np.ndarray) -> None:
    # register_dataset_type("skymodel", [...], "NumpyArray", format="hdf5") said "formats that write NumpyArray: npy"
    butler.register_dataset_type("skymodel", ["instrument"], "NumpyArray", format=fmt)
    ref = butler.put(array, "skymodel", instrument="Cam")
    assert butler.get_uri(ref).endswith(".fits" if fmt == "fits" else ".h5")
    got = butler.get(ref)
    assert got.dtype == array.dtype
    assert np.array_equal(got, array)
    part = butler.get(ref, parameters={"slices": (slice(1, None),)})
    assert np.array_equal(part, array[1:])


@pytest.mark.parametrize("fmt", ["fits", "hdf5"])
def test_an_array_read_refuses_what_only_npy_does(butler: DirectButler, fmt: str) -> None:
    butler.register_dataset_type("skymodel", ["instrument"], "NumpyArray", format=fmt)
    ref = butler.put(np.zeros(3), "skymodel", instrument="Cam")
    with pytest.raises(FormatterError, match=r"Unknown read parameter\(s\) \['mmap'\] for a NumpyArray"):
        butler.get(ref, parameters={"mmap": True})


def test_fits_refuses_an_array_it_cannot_hold(butler: DirectButler) -> None:
    butler.register_dataset_type("skymodel", ["instrument"], "NumpyArray", format="fits")
    with pytest.raises(FormatterError, match="FITS images cannot hold"):
        butler.put(np.zeros(3, dtype=complex), "skymodel", instrument="Cam")
    with pytest.raises(FormatterError, match="at least one element"):
        butler.put(np.ones(()), "skymodel", instrument="Cam")
    assert not butler.query_datasets("skymodel", collections="test/run")


NESTED: dict[str, Any] = {
    "seeing": 0.7,
    "name": "ünïcode ✓ ",  # non-ASCII and a trailing space: FITS strings could keep neither
    "counts": [1, -(2**63), 2**63 - 1],
    "flags": {"ok": True, "bad": False, "none": None},
    "mixed": [1, "two", 3.5, None, [], {}, [{"deep": [True]}]],
    "": "an empty key",
    "nan": float("nan"),
}


def _shape(value: Any) -> Any:
    """``value`` with each leaf replaced by its type and NaN by a marker: equal shapes mean an exact round trip."""
    if isinstance(value, dict):
        return [(k, _shape(v)) for k, v in value.items()]  # a list: the key order counts
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return (type(value).__name__, "nan" if value != value else value)


@pytest.mark.parametrize("fmt", ["fits", "hdf5"])
def test_a_structured_dict_goes_into_fits_and_hdf5(butler: DirectButler, fmt: str) -> None:
    # register_dataset_type("summary", [...], "StructuredDataDict", format="hdf5") said "formats that write
    # StructuredDataDict: json"; a dict then went in as flat Metadata, which cannot hold nesting
    data = NESTED if fmt == "fits" else {k: v for k, v in NESTED.items() if k}  # HDF5 names are never empty
    butler.register_dataset_type("summary", ["instrument"], "StructuredDataDict", format=fmt)
    ref = butler.put(data, "summary", instrument="Cam")
    uri = butler.get_uri(ref)
    assert uri.endswith(".fits" if fmt == "fits" else ".h5")
    assert _shape(butler.get(ref)) == _shape(data)
    path = uri.removeprefix("file://")
    if fmt == "hdf5":  # groups and attributes, readable without skybutler
        import h5py

        with h5py.File(path) as f:
            assert f["data/flags"].attrs["ok"]
            assert f["data"].attrs["seeing"] == 0.7
    else:  # a binary table, one row per node
        from astropy.io import fits

        with fits.open(path) as hdul:
            assert hdul["DATA"].columns.names == ["PARENT", "KEY", "KIND", "INT", "FLOAT", "TEXT"]
    # Metadata (a flat dict) is still written as it was: header cards, attributes
    butler.register_dataset_type("header", ["instrument"], "Metadata", format=fmt)
    assert butler.get(butler.put({"EXPTIME": 30.0}, "header", instrument="Cam")) == {"EXPTIME": 30.0}


@pytest.mark.parametrize("fmt", ["fits", "hdf5"])
@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"t": (1, 2)}, r"data\['t'\] is a builtins.tuple \(it would read back as a list; put a list\)"),
        ({"n": {3: "x"}}, r"data\['n'\] has the key 3: StructuredDataDict keys are str"),
        ({"x": [np.float32(1.5)]}, r"data\['x'\]\[0\] is a numpy.float32"),
        ({"big": 2**64}, r"data\['big'\] = 18446744073709551616: only integers of up to 64 bits"),
        ({"s": "a\x00b"}, r"data\['s'\]: text with a NUL character"),
        ({"a/b": {}}, None),
    ],
    ids=["tuple", "int-key", "numpy-scalar", "int-65-bits", "nul", "slash-key"],
)
def test_a_structured_dict_that_cannot_round_trip_is_refused(
    butler: DirectButler, fmt: str, value: dict[str, Any], why: str | None
) -> None:
    butler.register_dataset_type("summary", ["instrument"], "StructuredDataDict", format=fmt)
    if why is None:  # a key HDF5 cannot name a group with; FITS keeps any key
        if fmt == "fits":
            assert butler.get(butler.put(value, "summary", instrument="Cam")) == value
            return
        why = r"data has the key 'a/b': HDF5 names cannot be empty, '.' or hold '/'"
    with pytest.raises(FormatterError, match=why):
        butler.put(value, "summary", instrument="Cam")
    assert not butler.query_datasets("summary", collections="test/run")  # nothing registered, nothing left
    assert butler.verify().unknown == []
