"""The four table kinds: conversions keep units, metadata and dtypes; select and schema mean one thing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from astropy.table import MaskedColumn, Table
from hypothesis import assume, given, settings

from skybutler.astro import TableSchema, data_model_problems, select
from skybutler.astro._conversions import to_arrow, to_astropy, to_numpy, to_pandas
from skybutler.astro._tables import table_kind
from skybutler.errors import FormatterError
from skybutler.testing.astro import PARQUET, assert_same, tables

CONVERT = {"astropy": to_astropy, "arrow": to_arrow, "pandas": to_pandas, "numpy": to_numpy}


def _catalog() -> Table:
    table = Table(
        {"ra": [10.0, 20.0, 30.0], "dec": [-1.0, 0.0, 1.0], "name": ["a", "bb", "ccc"], "n": np.array([1, 2, 3], "i2")},
        meta={"survey": "x", "version": 3},
    )
    table["ra"].unit = "deg"
    table["dec"].unit = "deg"
    table["ra"].description = "right ascension"
    return table


def test_astropy_through_arrow_and_back_keeps_everything() -> None:
    table = _catalog()
    assert_same(to_astropy(to_arrow(table)), table)


def test_astropy_through_pandas_keeps_all_but_descriptions() -> None:
    table = _catalog()
    back = to_astropy(to_pandas(table))
    table["ra"].description = None  # pandas has nowhere to keep a column description
    assert_same(back, table)


@settings(deadline=None, max_examples=50)
@given(table=tables(PARQUET, multidim=False))
def test_conversions_round_trip_through_arrow(table: Table) -> None:
    assume(not any(table[c].dtype.kind in "cS" for c in table.colnames))
    assert_same(to_astropy(to_arrow(table)), table)
    assert_same(to_arrow(to_astropy(to_arrow(table))), to_arrow(table))
    as_numpy = to_numpy(to_arrow(table))
    assert_same(as_numpy, to_numpy(table))
    from_pandas = to_numpy(to_pandas(table))  # pandas keeps no string widths, and NaN there means missing
    for name in table.colnames:
        expected = np.asarray(table[name])
        column = from_pandas[name]
        got = np.ma.filled(column, np.nan) if expected.dtype.kind == "f" else np.ma.getdata(column)
        np.testing.assert_array_equal(got, expected)


def test_a_metadata_key_named_units_is_kept_or_refused_through_pandas() -> None:
    # A DataFrame keeps column units in attrs["units"]: a metadata value of that name was read as column units
    # on the way back and failed (hypothesis found it).
    plain = Table({"0": np.array([], dtype=bool)}, meta={"units": True})
    assert to_pandas(plain).attrs == {"units": True}
    assert to_astropy(to_arrow(to_pandas(plain))).meta == {"units": True}
    assert len(to_numpy(to_pandas(plain))) == 0
    clash = _catalog()
    clash.meta["units"] = "cgs"
    with pytest.raises(FormatterError, match="metadata has a key 'units'"):
        to_pandas(clash)


def test_units_live_in_arrow_field_metadata_and_dataframe_attrs() -> None:
    arrow = to_arrow(_catalog())
    assert arrow.schema.field("ra").metadata[b"unit"] == b"deg"
    frame = to_pandas(_catalog())
    assert frame.attrs == {"survey": "x", "version": 3, "units": {"ra": "deg", "dec": "deg"}}
    assert to_astropy(frame)["ra"].unit == "deg"


def test_masked_values_become_nulls_and_masked_arrays() -> None:
    table = Table([MaskedColumn([1, 2], name="a", mask=[True, False])])
    assert to_arrow(table).column("a").null_count == 1
    as_numpy = to_numpy(to_arrow(table))
    mask: Any = np.ma.getmaskarray(as_numpy)
    assert isinstance(as_numpy, np.ma.MaskedArray)
    assert mask["a"].tolist() == [True, False]
    assert list(to_astropy(to_arrow(table))["a"].mask) == [True, False]


def test_table_kind_refuses_what_is_not_a_table() -> None:
    with pytest.raises(FormatterError, match="structured array"):
        table_kind(np.zeros((2, 2)))
    with pytest.raises(FormatterError, match="Expected an astropy Table"):
        table_kind([1, 2])


@pytest.mark.parametrize("kind", sorted(CONVERT))
def test_select_means_the_same_for_every_kind(kind: str) -> None:
    table = _catalog()
    obj = CONVERT[kind](table)
    filters = [("dec", ">=", 0.0), ("name", "!=", "zzz")]
    got = to_astropy(select(obj, ["ra", "name"], filters))
    assert got.colnames == ["ra", "name"]
    assert list(got["ra"]) == [20.0, 30.0]
    or_filters: list[list[tuple[str, str, Any]]] = [[("n", "==", 1)], [("n", "in", [3])]]
    assert list(to_astropy(select(obj, filters=or_filters))["n"]) == [1, 3]


def test_select_keeps_dataframe_labels() -> None:
    frame = to_pandas(_catalog())
    got = select(frame, filters=[("n", ">", 1)])
    assert list(got.index) == [1, 2]


@pytest.mark.parametrize(
    ("columns", "filters", "match"),
    [
        (["nope"], None, "No column"),
        ([], None, "at least one"),  # astropy's table[[]] kept every column and dropped every row
        (["ra", "ra"], None, "twice"),
        ("ra", None, "list of column names"),
        (None, [("ra", "like", 1)], "operator"),
        (None, [("nope", "==", 1)], "names no column"),
        (None, [("ra", "==")], r"\(column, op, value\)"),
        (None, [], "non-empty"),
    ],
)
def test_bad_selections_are_refused(columns: Any, filters: Any, match: str) -> None:
    with pytest.raises(FormatterError, match=match):
        select(_catalog(), columns, filters)


def test_schema_of_each_kind() -> None:
    table = _catalog()
    schema = TableSchema.of(table)
    assert schema.names == ("ra", "dec", "name", "n")
    assert schema["ra"].unit == "deg"
    assert schema["name"].dtype == "<U3"
    assert TableSchema.of(to_arrow(table))["name"].dtype == "<U3"  # the exact NumPy dtype travels along
    assert TableSchema.of(pa.table({"s": ["x"]}))["s"].dtype == "string"
    assert TableSchema.of(to_numpy(table))["n"].dtype == "<i2"
    assert TableSchema.of(pd.DataFrame({"x": [1.0]}))["x"].dtype == "<f8"
    multi = Table({"v": np.zeros((2, 3))})
    assert TableSchema.of(multi)["v"].shape == (3,)
    assert TableSchema.of(to_arrow(multi))["v"].shape == (3,)
    with pytest.raises(KeyError):
        schema["nope"]


def test_data_model_problems_lists_everything_wrong() -> None:
    table = _catalog()
    assert data_model_problems(table, required_columns=["ra"], units={"ra": "degree"}, required_keys=["survey"]) == []
    problems = data_model_problems(
        table, required_keys=["band"], required_columns=["flux"], units={"dec": "arcsec", "name": "deg", "pm": "mas"}
    )
    assert problems == [
        "missing metadata key 'band' (has ['survey', 'version'])",
        "missing column 'flux' (has ['ra', 'dec', 'name', 'n'])",
        "column 'dec' is in 'deg', not 'arcsec'",
        "column 'name' is in None, not 'deg'",
        "missing column 'pm' (has ['ra', 'dec', 'name', 'n']), which must be in 'mas'",
    ]
    assert data_model_problems(to_pandas(table), units={"ra": "deg"}) == []
    assert data_model_problems(to_arrow(table), required_keys=["survey"]) == []
    assert data_model_problems(object(), required_keys=["x"]) == [
        "a object has no metadata, but keys ['x'] are required"
    ]
    assert data_model_problems({"a": 1}, required_columns=["a"]) == [
        "a dict has no columns, but columns/units are required"
    ]


def test_integer_columns_with_missing_values_keep_every_digit_in_pandas() -> None:
    # pyarrow makes them float64 with NaN: 2**62 + 1 (a 64-bit object ID) came back as 4.611686018427388e18
    ids = [2**62 + 1, None, 5]
    for table in (
        pa.table({"id": pa.array(ids, pa.int64()), "n": pa.array([1, 2, 3], pa.uint8())}),
        Table({"id": MaskedColumn([2**62 + 1, 0, 5], mask=[False, True, False]), "n": np.array([1, 2, 3], "u1")}),
    ):
        frame = to_pandas(table)
        assert frame["id"].dtype == pd.Int64Dtype()
        assert frame["id"].tolist() == [2**62 + 1, pd.NA, 5]
        assert frame["n"].dtype == np.uint8  # columns without missing values keep their NumPy dtype
