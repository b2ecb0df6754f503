"""The import fast path reads every export document exactly as PyYAML does, or leaves it to PyYAML.

A differential test: generated export documents whose ``dataset`` entries hold hostile strings (YAML line
breaks NEL, LS and PS, byte-order marks, control characters, quotes, backslash escapes, astral characters)
written every way a scalar can be written, read by `load_document` and by `load_export` (PyYAML): the two
must give the same structure, or both refuse the document.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from skybutler.errors import ExportFormatError
from skybutler.transfer._yaml_fast import dataset_entry_text, load_document, scalar_text
from skybutler.transfer._yaml_format import load_export

HEADER = "description: Butler Data Repository Export\nversion: 1.0.2\nuniverse_version: 8\ndata:\n"

#: Characters YAML treats specially or that differ between YAML and JSON, mixed with ordinary text.
HOSTILE = [
    "\x85", "\u2028", "\u2029", "\ufeff", "\r", "\x00", "\x01", "\x1b", "\x7f", "\x80", "\x9f", "\xa0", "\t",
    "'", '"', "\\", " ", "#", ":", "-", "?", "&", "*", "!", "%", "@", "`", "{", "}", "[", "]", ",", "|", ">",
    "\u00e9", "\u4e2d", "\U0001f600", "\ud7ff", "\ue000", "\ufffd", "\ufffe", "\uffff",
    "\\N", "\\L", "\\P", "\\_", "\\x85", "\\u2028", "\\U0001F600", "\\ud83d\\ude00", "\\ud800", "\\/", "\\e",
    "\\0", "\\a", "\\v", "\\ ", "\\b", "\\f", "\\t", "\\\t", "\\z", "\\x4", "\\U00110000", "''", "\\\"",
    "a", "b", "1", "_", "/", ".", "y", "no", "null", "~",
    "\n", "\n- ", "\n  ", "\n- type: dataset\n", "\ndata2: x\n", "\n#", "\x85- ", "\u2028data3: y",
]  # fmt: skip
hostile_text = st.lists(st.sampled_from(HOSTILE), max_size=6).map("".join)


def _ways(value: str) -> list[str]:
    """``value`` written as a YAML scalar every way the line reader might meet it (some not valid YAML)."""
    return [
        scalar_text(value),
        "'" + value.replace("'", "''") + "'",
        '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"',
        '"' + value + '"',
        json.dumps(value),
        json.dumps(value, ensure_ascii=False),
        value,
    ]


scalar = hostile_text.flatmap(lambda v: st.sampled_from(_ways(v)))


@st.composite
def documents(draw: st.DrawFn) -> str:
    """An export whose ``data`` has one or two dataset entries in the line reader's layout (and maybe a run)."""
    out = [HEADER]
    if draw(st.booleans()):  # another entry before: PyYAML reads it, split from the rest at its line starts
        out.append(f"- type: collection\n  collection_type: RUN\n  name: {draw(scalar)}\n  doc: {draw(scalar)}\n")
    for _ in range(draw(st.integers(1, 2))):
        out.append(f"- type: dataset\n  dataset_type: {draw(scalar)}\n  run: {draw(scalar)}\n  records:\n")
        for _ in range(draw(st.integers(1, 2))):
            out.append(f"  - dataset_id:\n    - !uuid '{uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))}'\n")
            out.append(f"    data_id:\n    - instrument: {draw(scalar)}\n      detector: {draw(scalar)}\n")
            if draw(st.booleans()):
                out.append(f"    path: {draw(scalar)}\n")
            if draw(st.booleans()):
                out.append(f"    formatter: {draw(scalar)}\n")
    return "".join(out)


#: Record values beside text: numbers, YAML's words, tags and forms the dimension reader leaves to PyYAML.
RECORD_VALUES = [
    "null", "~", "Null", "true", "false", "True", "yes", "30.0", "-0.0", "00.5", "1.", ".5", "1.0e-05", "1e5",
    "0x1F", "0o7", "017", "1_000", "-7", "0", "+3", "2013-06-17", "2013-06-17 00:00:00", ".inf", ".nan",
    "!!binary |\n      4p/p8QCONZ82o2d+fWnMQ5N20eY=", "!butler_time/tai/iso '2013-06-17 00:00:00.000000000'",
    "[1, 2]", "{a: 1}", "", "- x",
]  # fmt: skip
record_value = st.one_of(scalar, st.sampled_from(RECORD_VALUES))
record_key = st.sampled_from(["instrument", "id", "name", "exposure_time", "region", "y", "on", "1", "a b", "id"])


@st.composite
def dimension_documents(draw: st.DrawFn) -> str:
    """An export whose ``data`` has dimension entries in the dimension reader's layout, with hostile values."""
    out = [HEADER]
    for _ in range(draw(st.integers(1, 2))):
        out.append(f"- type: dimension\n  element: {draw(scalar)}\n  records:\n")
        for _ in range(draw(st.integers(1, 3))):
            prefix = "  - "
            for _ in range(draw(st.integers(1, 4))):
                out.append(f"{prefix}{draw(record_key)}: {draw(record_value)}\n")
                prefix = draw(st.sampled_from(["    ", "    ", "    ", "     ", "   ", "\t"]))
    return "".join(out)


def _outcome(reader: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "read", reader(data, "export.yaml")
    except ExportFormatError:
        return "refused", None


def _agree(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    assert _outcome(load_document, data) == _outcome(load_export, data), text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
@example(HEADER + '- type: dataset\n  dataset_type: "a\x85b"\n  run: r\n  records:\n  - dataset_id:\n'
         "    - !uuid '01a22934-5163-75b5-bbaf-32f9d79c4da7'\n    data_id:\n    - instrument: Cam\n")  # fmt: skip
def test_fast_path_agrees_with_pyyaml(text: str) -> None:
    _agree(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dimension_documents())
@example(HEADER + "- type: dimension\n  element: visit\n  records:\n  - instrument: Cam\n    exposure_time: 30.0\n")
@example(HEADER + "- type: dimension\n  element: visit\n  records:\n  - id: 1\n    \n")
def test_dimension_reader_agrees_with_pyyaml(text: str) -> None:
    _agree(text)


def test_dimension_records_of_a_regular_layout_are_read_without_pyyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    text = HEADER + (
        "- type: dimension\n  element: visit\n  records:\n"
        "  - instrument: Cam\n    id: 1\n    name: v1\n    exposure_time: 30.5\n    region: null\n"
        "  - instrument: Cam\n    id: 2\n    name: 'v 2'\n    exposure_time: -1.25\n    region: null\n"
    )
    expected = load_export(text, "x")
    parsed: list[str] = []
    pyyaml_load = yaml.load

    def load(stream: Any, Loader: Any) -> Any:  # noqa: N803 (PyYAML's name)
        parsed.append(str(stream))
        return pyyaml_load(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "load", load)
    assert load_document(text, "x") == expected
    assert parsed  # the header
    assert not any("dimension" in p for p in parsed)
    assert expected["data"][0]["records"][1] == {
        "instrument": "Cam",
        "id": 2,
        "name": "v 2",
        "exposure_time": -1.25,
        "region": None,
    }


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029", "\ufeff", "\r", "\x7f", "\x9f", "\x00", "\ufffe"])
@pytest.mark.parametrize("quote", ["'", '"'])
def test_each_hostile_character_inside_quotes(char: str, quote: str) -> None:
    entry = dataset_entry_text("meta", "r", [(uuid.UUID(int=1), {"instrument": "Cam"}, "p.json", None)])
    _agree(HEADER + entry.replace("run: r", f"run: {quote}a{char}b{quote}"))


@given(st.lists(st.tuples(hostile_text, hostile_text), min_size=1, max_size=3))
@settings(max_examples=200, deadline=None)
def test_what_we_write_reads_back(values: list[tuple[str, str]]) -> None:
    """Our own writer's output goes through the fast path and gives back the values written."""
    records = [(uuid.UUID(int=n), {"instrument": a}, b or None, None) for n, (a, b) in enumerate(values)]
    text = HEADER + dataset_entry_text("meta", "run", records)
    document = load_document(text.encode(), "export.yaml")
    assert document == load_export(text.encode(), "export.yaml")
    read = document["data"][0]["records"]
    assert [(r["data_id"][0]["instrument"], r.get("path")) for r in read] == [(a, b or None) for a, b in values]
