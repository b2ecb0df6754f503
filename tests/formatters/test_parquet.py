"""The Parquet formatter: every table kind round-trips with units and metadata; columns and filters read less."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.table import MaskedColumn, Table
from hypothesis import given, settings
from hypothesis import strategies as st

from skybutler.astro import TableSchema, select
from skybutler.astro._conversions import to_arrow, to_numpy, to_pandas
from skybutler.errors import FormatterError
from skybutler.formatters._parquet import ParquetFormatter
from skybutler.testing.astro import PARQUET, CountingReader, assert_same, read_back, tables

FMT = ParquetFormatter()
CONVERT = {
    "AstropyTable": lambda t: t,
    "ArrowTable": to_arrow,
    "NumpyStructuredArray": to_numpy,
}


@pytest.mark.parametrize("storage_class", sorted(CONVERT))
@settings(deadline=None, max_examples=40)
@given(table=tables(PARQUET), data=st.data())
def test_round_trip_columns_filters_schema(storage_class: str, table: Table, data: st.DataObject) -> None:
    obj = CONVERT[storage_class](table)
    full = read_back(FMT, obj)
    assert_same(full, obj)
    assert read_back(FMT, obj, component="rowcount") == len(table)
    assert read_back(FMT, obj, component="schema") == TableSchema.of(full)
    columns = data.draw(st.lists(st.sampled_from(table.colnames), min_size=1, unique=True))
    assert_same(read_back(FMT, obj, parameters={"columns": columns}), select(full, columns))
    numeric = [c for c in table.colnames if table[c].ndim == 1 and table[c].dtype.kind in "iuf"]
    if numeric:
        filters = [(numeric[0], ">=", 0)]
        got = read_back(FMT, obj, parameters={"columns": columns, "filters": filters})
        assert_same(got, select(full, columns, filters))


@settings(deadline=None, max_examples=40)
@given(table=tables(PARQUET, multidim=False))
def test_dataframes_keep_index_attrs_and_row_labels(table: Table) -> None:
    frame = to_pandas(table)
    full = read_back(FMT, frame)
    assert_same(full, frame)
    first = table.colnames[0]
    if table[first].dtype.kind in "iuf":
        filters = [(first, "<", 0)]
        assert_same(read_back(FMT, frame, parameters={"filters": filters}), select(full, filters=filters))


def test_astropy_units_descriptions_and_meta_survive() -> None:
    table = Table({"ra": [1.0, 2.0], "flux": [3.0, 4.0]}, meta={"survey": "x", "version": 3, "bands": ["g", "r"]})
    table["ra"].unit = "deg"
    table["flux"].unit = "nJy"
    table["flux"].description = "PSF flux"
    got = read_back(FMT, table)
    assert got["ra"].unit == "deg"
    assert got["flux"].unit == "nJy"
    assert got["flux"].description == "PSF flux"
    assert got.meta == table.meta


def test_arrow_metadata_and_nulls_round_trip() -> None:
    table = pa.table({"a": pa.array([1, None, 3]), "s": pa.array(["x", None, "é"])}).replace_schema_metadata(
        {b"origin": b"pipeline"}
    )
    got = read_back(FMT, table)
    assert got.equals(table, check_metadata=True)
    as_astropy = read_back(FMT, Table(table.to_pandas().to_dict("list")))
    assert len(as_astropy) == 3


def test_masked_astropy_columns_become_nulls_and_back() -> None:
    table = Table([MaskedColumn([1, 2, 3], name="a", mask=[False, True, False])])
    got = read_back(FMT, table)
    assert list(got["a"].mask) == [False, True, False]
    assert read_back(FMT, to_arrow(table)).column("a").null_count == 1


def test_a_non_default_dataframe_index_is_kept() -> None:
    frame = pd.DataFrame({"flux": [1.0, 2.0, 3.0]}, index=pd.Index([10, 20, 30], name="id"))
    pd.testing.assert_frame_equal(read_back(FMT, frame), frame)
    got = read_back(FMT, frame, parameters={"filters": [("flux", ">", 1.5)]})
    pd.testing.assert_frame_equal(got, frame[frame["flux"] > 1.5])


def test_files_are_plain_parquet(tmp_path: Path) -> None:
    table = Table({"ra": [1.0, 2.0]})
    table["ra"].unit = "deg"
    path = tmp_path / "src.parq"
    with open(path, "wb") as stream:
        FMT.write(table, stream)
    read = pq.read_table(path)
    assert read.column_names == ["ra"]
    assert read.schema.field("ra").metadata[b"unit"] == b"deg"
    assert read.schema.metadata[b"skybutler.storage_class"] == b"AstropyTable"
    assert pd.read_parquet(path)["ra"].tolist() == [1.0, 2.0]


def test_dnf_filters_or_of_ands() -> None:
    table = Table({"a": np.arange(10), "b": np.arange(10) % 3})
    filters = [[("a", "<", 2)], [("b", "==", 2), ("a", ">", 5)]]
    got = read_back(FMT, table, parameters={"filters": filters})
    assert list(got["a"]) == [0, 1, 8]
    assert_same(got, select(table, filters=filters))
    got = read_back(FMT, table, parameters={"filters": [("a", "in", [3, 4]), ("b", "not in", [0])]})
    assert list(got["a"]) == [4]


@pytest.mark.parametrize(
    "filters",
    [[("id", ">", 2**63)], [("id", "==", 2**64 - 1)], [("id", "in", [2**63 + 1, 5])]],
    ids=[">", "==", "in"],
)
def test_uint64_filters_beyond_int64_match_select(filters: Any) -> None:
    # pyarrow turns such a Python int into an int64 scalar and raised OverflowError instead of filtering
    table = Table({"id": np.array([5, 2**63 + 1, 2**64 - 1], "u8"), "x": [1.0, 2.0, 3.0]})
    assert_same(read_back(FMT, table, parameters={"filters": filters}), select(table, filters=filters))


@pytest.mark.parametrize("meta", [{1: "x"}, {"a": {2.5: 1}}, {"a": [{None: 1}]}], ids=["top", "nested", "in a list"])
def test_metadata_keys_parquet_would_turn_into_strings_are_refused(meta: dict[Any, Any]) -> None:
    # {1: "x"} read back as {"1": "x"}
    with pytest.raises(FormatterError, match="string keys"):
        FMT.write(Table({"a": [1]}, meta=meta), io.BytesIO())


# -- partial reads read less -----------------------------------------------------------------------------
def _counted(path: Path, **kwargs: Any) -> tuple[Any, int]:
    with open(path, "rb") as raw:
        reader = CountingReader(raw)
        obj = FMT.read(reader, **kwargs)  # type: ignore[arg-type]
        return obj, reader.bytes_read


def test_columns_and_components_read_a_fraction(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    table = pa.table({f"c{i}": rng.normal(size=100_000) for i in range(20)})
    path = tmp_path / "t.parq"
    with open(path, "wb") as stream:
        FMT.write(table, stream)
    size = path.stat().st_size
    _, full = _counted(path)
    got, read = _counted(path, parameters={"columns": ["c3", "c11"]})
    assert got.column_names == ["c3", "c11"]
    assert read < full / 5, f"2 of 20 columns read {read} of {size} bytes"
    for component in ("schema", "rowcount"):
        _, read = _counted(path, component=component)
        assert read < 70_000


# -- refusals ------------------------------------------------------------------------------------------
def test_what_parquet_cannot_hold_is_refused() -> None:
    with pytest.raises(FormatterError, match="complex128"):
        FMT.write(Table({"z": np.zeros(2, "c16")}), io.BytesIO())
    with pytest.raises(FormatterError, match="JSON"):
        FMT.write(Table({"a": [1]}, meta={"x": object()}), io.BytesIO())
    with pytest.raises(FormatterError, match="reserved"):
        FMT.write(Table({"a": [1]}, meta={"pandas": "x"}), io.BytesIO())
    with pytest.raises(FormatterError, match="writes AstropyTable, ArrowTable"):
        FMT.write({"not": "a table"}, io.BytesIO())
    with pytest.raises(FormatterError, match="No column"):
        read_back(FMT, Table({"a": [1]}), parameters={"columns": ["b"]})
    with pytest.raises(FormatterError, match="no component"):
        read_back(FMT, Table({"a": [1]}), component="wcs")
