"""The export YAML dialect: tags, TAI text, places in a document, and the fast paths agreeing with PyYAML."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from skybutler import Timespan
from skybutler.errors import ExportFormatError
from skybutler.transfer._yaml_fast import dataset_entry_text, load_document, write_document
from skybutler.transfer._yaml_format import (
    Region,
    TaiTime,
    describe,
    dump_export,
    format_tai,
    line_of,
    load_export,
    parse_tai,
)

DATA = Path(__file__).parent / "data"


def test_tai_text_keeps_nanoseconds() -> None:
    ns = parse_tai("2024-03-01 03:00:00.000000123")
    assert ns % 1_000_000_000 == 123
    assert format_tai(ns) == "2024-03-01 03:00:00.000000123"
    assert parse_tai("1970-01-01 00:00:00") == 0
    assert format_tai(-1) == "1969-12-31 23:59:59.999999999"


def test_tags_round_trip() -> None:
    when = parse_tai("2024-01-01 00:00:00")
    value: dict[str, object] = {
        "id": uuid.UUID("01a2292d-f003-7876-8ee5-8bf15ff335dd"),
        "t": TaiTime(when),
        "span": Timespan(5, None),
        "empty": Timespan(0, 0),  # every empty timespan is written as EMPTY and read back as this one
        "region": Region(b"p\x00\x01"),
        "same": [uuid.UUID(int=1), uuid.UUID(int=1)],
    }
    out = io.StringIO()
    dump_export(value, out)
    text = out.getvalue()
    assert "!<lsst.sphgeom.ConvexPolygon>" in text
    assert "&id" not in text  # never anchors: the reference and the fast reader expect values in place
    back = load_export(text, "x")
    assert back == {**value, "t": when, "region": b"p\x00\x01"}
    assert type(back["t"]) is int
    assert isinstance(back["region"], bytes)


def test_places_are_described_and_located() -> None:
    text = (DATA / "reference_v8.yaml").read_text()
    assert describe(("data", 6, "records", 0, "exposure_time")) == "data[6].records[0].exposure_time"
    assert describe(()) == "the top level"
    line = line_of(text, ("data", 6, "records", 0, "exposure_time"))
    assert line is not None
    assert text.splitlines()[line - 1].strip() == "exposure_time: 30.0"
    assert line_of(text, ("data", 999)) == line_of(text, ("data",))


@pytest.mark.parametrize("name", ["reference_v8.yaml", "reference_v0.yaml", "reference_v5.yaml"])
def test_fast_reader_agrees_with_pyyaml_on_reference_files(name: str) -> None:
    text = (DATA / name).read_text()
    assert load_document(text, name) == load_export(text, name)


def test_irregular_entries_fall_back_to_pyyaml() -> None:
    text = (DATA / "reference_v8.yaml").read_text()
    variants = [
        text.replace("    path: run1/meta", "    path: 'run1/meta", 1).replace("D1_run1.yaml\n", "D1_run1.yaml'\n", 1),
        text.replace("  run: run1\n", "  run: {0: 1}\n", 1),  # not a valid run, but the reader must agree
        text.replace("      detector: 1\n", "      detector: 0x1\n", 1),
        text.replace("      detector: 1\n", "      detector: true\n", 1),
        text.replace(
            "  records:\n  - dataset_id:\n", "  records:\n  - {dataset_id: [], data_id: []}\n  - dataset_id:\n", 1
        ),
        yaml.dump(yaml.load(text, Loader=yaml.BaseLoader), indent=4, default_flow_style=True),  # other layout
    ]
    for variant in variants:
        assert load_document(variant, "v") == load_export(variant, "v")


def test_fast_reader_reports_yaml_errors_with_position() -> None:
    text = (DATA / "reference_v8.yaml").read_text().replace("- type: dataset\n", "- type: dataset\n  x: [\n", 1)
    with pytest.raises(ExportFormatError, match=r"line \d+, column \d+"):
        load_document(text, "broken.yaml")


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)
values = st.one_of(st.integers(-(2**62), 2**62), texts)
data_ids = st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), values, min_size=1)


@settings(max_examples=100, deadline=None)
@given(
    dataset_type=st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
    run=texts,
    rows=st.lists(
        st.tuples(
            st.uuids(),
            st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), values, min_size=1),
            st.one_of(st.none(), texts),
            st.one_of(st.none(), texts),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_written_entries_read_back_identically(
    dataset_type: str, run: str, rows: list[tuple[uuid.UUID, dict[str, object], str | None, str | None]]
) -> None:
    out = io.StringIO()
    write_document({"version": "1.0.2"}, [{"type": "run", "name": "r"}], out)
    text = out.getvalue() + dataset_entry_text(dataset_type, run, rows)
    expected = yaml.safe_load(text.replace("!uuid ", ""))
    for record in expected["data"][1]["records"]:
        record["dataset_id"] = [uuid.UUID(i) for i in record["dataset_id"]]
    assert load_document(text, "x") == expected
    assert load_export(text, "x") == expected
