"""The bulk reader of regular dataset blocks: same result as PyYAML, checked by column, else the line reader.

`load_document` reads a dataset entry whose records all share one shape (canonical UUID, the same data ID
keys, plain values, plain path and formatter) with one regular-expression pass; the import plan then checks
the block column by column.  These tests pin that the pass is taken where it should be, that every variant
it must not read falls back and still agrees with PyYAML, and that the plan and its errors are the same
either way.
"""

from __future__ import annotations

import uuid

import pytest

from skybutler.dimensions import DimensionUniverse
from skybutler.errors import ExportFormatError
from skybutler.transfer._import_plan import read_plan
from skybutler.transfer._yaml_fast import RecordColumns, RegularRecords, dataset_entry_text, load_document
from skybutler.transfer._yaml_format import load_export

HEADER = "description: Butler Data Repository Export\nversion: 1.0.2\nuniverse_version: 8\ndata:\n"
TYPE = "- type: dataset_type\n  name: calexp\n  dimensions: [instrument, detector, visit]\n  storage_class: ExposureF\n"


def _block(n: int, *, path: bool = False) -> str:
    records = [
        (uuid.UUID(int=7919 * k + 1), {"instrument": "Cam", "detector": k % 10, "visit": k // 10},
         f"run/calexp/{k}.fits" if path else None, "skybutler.formatters.Fits" if path else None)
        for k in range(n)
    ]  # fmt: skip
    return dataset_entry_text("calexp", "run", records)


def _records(text: str) -> list[object]:
    return next(e["records"] for e in load_document(text, "x")["data"] if e["type"] == "dataset")


@pytest.mark.parametrize("path", [False, True])
def test_regular_block_is_read_in_bulk_and_equals_pyyaml(path: bool) -> None:
    text = HEADER + TYPE + _block(50, path=path)
    records = _records(text)
    assert type(records) is RegularRecords
    assert load_document(text, "x") == load_export(text, "x")
    assert records.columns[1] == [k % 10 for k in range(50)]
    columns = next(e["records"] for e in load_document(text, "x", columns=True)["data"] if e["type"] == "dataset")
    assert type(columns) is RecordColumns  # no mapping per record until asked
    assert columns.records() == records
    assert columns.ids == records.ids


#: Edits of one record that the bulk pattern must not read: each falls back and still agrees with PyYAML.
VARIANTS = {
    "special word": ("instrument: Cam", "instrument: yes", 3),
    "null word": ("instrument: Cam", "instrument: NULL", 1),
    "quoted": ("instrument: Cam", "instrument: 'Cam'", 2),
    "spaced": ("instrument: Cam", "instrument: Cam A", 1),
    "upper-case UUID": ("-000000000001'", "-00000000000A'", 1),
    "UUID without dashes": ("'00000000-0000-0000-0000-000000000001'", "'00000000000000000000000000000001'", 1),
    "leading zero": ("detector: 1\n", "detector: 01\n", 1),
    "float": ("detector: 1\n", "detector: 1.5\n", 1),
    "other key order": ("    - instrument: Cam\n      detector: 1\n", "    - detector: 1\n      instrument: Cam\n", 1),
    "extra line": ("      visit: 0\n", "      visit: 0\n    extra: 1\n", 1),
    "comment": ("      visit: 0\n", "      visit: 0  # first\n", 1),
    "int path": ("path: run/calexp/1.fits", "path: 12", 1),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_irregular_records_fall_back_and_agree(name: str) -> None:
    old, new, count = VARIANTS[name]
    text = HEADER + TYPE + _block(12, path=True)
    assert old in text, name
    text = text.replace(old, new, count)
    try:
        expected: object = load_export(text, "x")
    except ExportFormatError:
        expected = "refused"
    try:
        got: object = load_document(text, "x")
    except ExportFormatError:
        got = "refused"
    assert got == expected
    if got != "refused":
        assert type(_records(text)) is not RegularRecords


@pytest.mark.parametrize("tail", ["", "\n", "\n\n  \n", "   \n"])
def test_block_end_forms(tail: str) -> None:
    text = (HEADER + TYPE + _block(5)).rstrip("\n") + tail
    assert load_document(text, "x") == load_export(text, "x")


def test_plan_is_the_same_from_bulk_and_from_plain_records() -> None:
    universe = DimensionUniverse.default()
    text = HEADER + TYPE + _block(30, path=True)
    bulk = load_document(text, "x")
    plain = load_export(text, "x")
    assert type(bulk["data"][1]["records"]) is RegularRecords
    assert type(plain["data"][1]["records"]) is list
    a = read_plan(bulk, "x", text, universe, lambda name: None)
    b = read_plan(plain, "x", text, universe, lambda name: None)
    c = read_plan(load_document(text, "x", columns=True), "x", text, universe, lambda name: None)
    assert list(a.datasets.values()) == list(b.datasets.values()) == list(c.datasets.values())
    assert len(a.datasets) == 30
    entry = a.datasets[uuid.UUID(int=7919 * 3 + 1)]
    assert (entry.values, entry.path, entry.location) == (("Cam", 3, 0), "run/calexp/3.fits", ("data", 1, "records", 3))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("instrument: Cam\n      detector: 4", "instrument: Cam\n      detector: x4"), "detector"),
        (("visit: 1\n", "visit: 1\n    - instrument: Cam\n      detector: 1\n      visit: 2\n"), "go in pairs"),
        (("path: run/calexp/3.fits", "path: /abs/3.fits"), "the file path"),
    ],
)
def test_errors_are_the_line_readers(edit: tuple[str, str], message: str) -> None:
    """A block the column checks refuse is checked record by record: the same error, at the same place."""
    universe = DimensionUniverse.default()
    text = (HEADER + TYPE + _block(30, path=True)).replace(*edit, 1)
    errors = []
    for document in (load_document(text, "x"), load_document(text, "x", columns=True), load_export(text, "x")):
        with pytest.raises(ExportFormatError, match=message) as caught:
            read_plan(document, "x", text, universe, lambda name: None)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] == errors[2]


def test_repeated_id_in_a_bulk_block() -> None:
    """The same ID twice with other contents is refused as by the line reader; twice alike is one dataset."""
    universe = DimensionUniverse.default()
    text = HEADER + TYPE + _block(4)
    first = str(uuid.UUID(int=1))
    second = str(uuid.UUID(int=7919 + 1))
    same = text.replace(second, first, 1)
    assert type(_records(same)) is RegularRecords
    with pytest.raises(ExportFormatError, match="listed twice") as caught:
        read_plan(load_document(same, "x"), "x", same, universe, lambda name: None)
    with pytest.raises(ExportFormatError) as by_column:
        read_plan(load_document(same, "x", columns=True), "x", same, universe, lambda name: None)
    with pytest.raises(ExportFormatError) as expected:
        read_plan(load_export(same, "x"), "x", same, universe, lambda name: None)
    assert str(caught.value) == str(by_column.value) == str(expected.value)
