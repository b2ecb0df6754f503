"""Malformed or contradictory export files: a specific error that says where, and the repository unchanged."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skybutler import Butler
from skybutler.errors import CollectionError, ConflictError, DataIdError, ExportFormatError, SkyButlerError

DATA = Path(__file__).parent / "data"
REFERENCE = (DATA / "reference_v8.yaml").read_text()
Snapshot = Callable[[Butler], dict[str, Any]]


def _edit(old: str, new: str, count: int = 1) -> str:
    assert old in REFERENCE, old
    return REFERENCE.replace(old, new, count)


CASES: list[tuple[str, str, str]] = [
    # (id, file text, pattern the message must match)
    ("not-yaml", "data: [\n  - {type: dimension\n", r"line \d+, column \d+"),
    ("not-a-mapping", "- just\n- a list\n", r"the top level \(line 1\): an export file is a YAML mapping"),
    ("no-version", _edit("version: 1.0.2\n", ""), r"the key 'version' is missing"),
    ("future-version", _edit("version: 1.0.2", "version: 2.0.0"), r"version \(line 2\): export format version"),
    ("no-data", _edit("data:\n", "datums:\n"), r"the key 'data' is missing"),
    ("entry-without-type", _edit("- type: dimension\n  element: instrument", "- element: instrument"),
     r"data\[0\] \(line \d+\): the key 'type' is missing"),
    ("unknown-entry-type", _edit("- type: dimension\n  element: instrument", "- type: dim\n  element: instrument"),
     r"data\[0\]\.type .*unknown entry type 'dim'"),
    ("unknown-element", _edit("element: group", "element: grup"),
     r"data\[3\]\.element \(line \d+\): unknown element 'grup'.*did you mean 'group'"),
    ("wrong-field-type", _edit("exposure_time: 30.0", "exposure_time: long"),
     r"data\[6\]\.records\[0\]\.exposure_time \(line 63\): must be a number, got 'long'"),
    ("unknown-field", _edit("obs_id: O11", "obs_id: O11\n    colour: red"),
     r"data\[6\]\.records\[0\]\.colour .*no field 'colour'"),
    ("missing-key-field", _edit("  - instrument: Cam\n    id: 20240229\n", "  - instrument: Cam\n"),
     r"data\[1\]\.records\[0\] .*needs a value for 'id'"),
    ("unknown-dimension", _edit("  - physical_filter\n  - visit\n", "  - physical_filter\n  - vist\n"),
     r"dimensions\[5\] .*unknown dimension 'vist'.*did you mean 'visit'"),
    ("unknown-storage-class", _edit("storage_class: StructuredDataDict\n  is_calibration: false",
                                    "storage_class: ExposureF\n  is_calibration: false"),
     r"storage_class .*unknown storage class 'ExposureF'"),
    ("unknown-collection-type", _edit("collection_type: TAGGED\n  name: tagged", "collection_type: TAG\n  name: t"),
     r"collection_type .*unknown collection type 'TAG'"),
    ("data-id-missing-key", _edit("      detector: 2\n      visit: 11\n", "      visit: 11\n"),
     r"records\[1\]\.data_id\[0\] .*lacks \['detector'\]"),
    ("bad-uuid", _edit("- !uuid '01a", "- 'zz01a"), r"dataset_id\[0\] .*a dataset ID is a UUID"),
    ("unknown-dataset-type", _edit("dataset_type: meta\n", "dataset_type: mata\n"),
     r"dataset_type .*'mata' is neither defined in the file nor registered"),
    ("associated-but-absent", re.sub(r"(collection_type: TAGGED\n  dataset_ids:\n  - !uuid ')[0-9a-f-]+",
                                     r"\g<1>00000000-0000-4000-8000-000000000000", REFERENCE),
     r"data\[21\].dataset_ids\[0\] .*neither in the file nor in the repository"),
    ("bad-uuid-text", _edit("- !uuid '01a", "- !uuid 'zz01a"), r"\(line \d+, column \d+\).*is not a UUID"),
    ("bad-time", _edit("'2024-03-01 03:00:00.000000000'", "'yesterday'"), r"'yesterday' is not a TAI time"),
]  # fmt: skip


def _duplicate_uuid() -> str:
    """The second meta dataset reuses the first one's ID (with another data ID)."""
    first, second = re.findall(r"- !uuid '([0-9a-f-]+)'", REFERENCE)[2:4]  # flats come first, then the metas
    return REFERENCE.replace(f"- !uuid '{second}'", f"- !uuid '{first}'", 1)


@pytest.mark.parametrize(("text", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_file_names_the_place_and_imports_nothing(
    dest: Butler, snapshot: Snapshot, tmp_path: Path, text: str, pattern: str
) -> None:
    before = snapshot(dest)
    path = tmp_path / "export.yaml"
    path.write_text(text)
    with pytest.raises(ExportFormatError, match=pattern) as info:
        dest.import_(path, directory=DATA / "reference_v8_files")
    assert str(path) in str(info.value)
    assert snapshot(dest) == before


def test_duplicate_uuid_with_other_contents(dest: Butler, snapshot: Snapshot, tmp_path: Path) -> None:
    before = snapshot(dest)
    path = tmp_path / "export.yaml"
    path.write_text(_duplicate_uuid())
    with pytest.raises(ExportFormatError, match=r"listed twice with different contents \(first at data\.\d+"):
        dest.import_(path)
    assert snapshot(dest) == before


def test_failure_inside_the_transaction_rolls_everything_back(dest: Butler, snapshot: Snapshot, tmp_path: Path) -> None:
    """A chain naming a missing child fails late (after records, types, runs and datasets): all undone."""
    before = snapshot(dest)
    path = tmp_path / "export.yaml"
    path.write_text(_edit("  children:\n  - tagged\n", "  children:\n  - tagged\n  - nowhere\n"))
    with pytest.raises(CollectionError, match="nowhere"):
        dest.import_(path, directory=DATA / "reference_v8_files")
    assert snapshot(dest) == before  # no records, collections, datasets, staged or final files
    # The caches forgot what the rolled-back transaction made: a correct import still works.
    report = dest.import_(DATA / "reference_v8_files" / "export.yaml", directory=DATA / "reference_v8_files")
    assert report.datasets == 4


@pytest.mark.parametrize("directory", [None, DATA / "reference_v8_files"], ids=["registry-only", "with-files"])
def test_records_naming_a_record_the_file_lacks(
    dest: Butler, snapshot: Snapshot, tmp_path: Path, directory: Path | None
) -> None:
    """A hand-edited file without the day_obs record its exposures and visits name: the database refuses the
    first insert that names it, and (on PostgreSQL too, where that aborts the transaction) the error says which."""
    day_obs = re.search(r"- type: dimension\n  element: day_obs\n.*?(?=- type:)", REFERENCE, re.S)
    assert day_obs is not None
    before = snapshot(dest)
    path = tmp_path / "export.yaml"
    path.write_text(REFERENCE.replace(day_obs.group(0), ""))
    with pytest.raises(DataIdError, match=r"do not exist \(day_obs \{'instrument': 'Cam', 'day_obs': 20240229\}\)"):
        dest.import_(path, directory=directory)
    assert snapshot(dest) == before


def test_overlapping_validity_in_the_file_is_a_conflict(dest: Butler, snapshot: Snapshot, tmp_path: Path) -> None:
    before = snapshot(dest)
    path = tmp_path / "export.yaml"
    path.write_text(_edit("begin: !butler_time/tai/iso '2024-06-01 00:00:00.000000000'",
                          "begin: !butler_time/tai/iso '2024-05-01 00:00:00.000000000'"))  # fmt: skip
    with pytest.raises(ConflictError, match="already certified"):
        dest.import_(path, directory=DATA / "reference_v8_files")
    assert snapshot(dest) == before


def test_missing_file_in_the_export_directory(dest: Butler, snapshot: Snapshot, tmp_path: Path) -> None:
    before = snapshot(dest)
    with pytest.raises(SkyButlerError, match="has no file"):
        dest.import_(DATA / "reference_v8.yaml", directory=tmp_path)
    assert snapshot(dest) == before


def test_existing_id_with_other_contents_is_refused(dest: Butler, snapshot: Snapshot, tmp_path: Path) -> None:
    dest.import_(DATA / "reference_v8.yaml")
    before = snapshot(dest)
    path = tmp_path / "export.yaml"
    path.write_text(REFERENCE.replace("run: run1", "run: run2"))
    with pytest.raises(ConflictError, match="already exists here with other contents"):
        dest.import_(path, skip_existing=True)
    assert snapshot(dest) == before


def test_unreadable_sources(dest: Butler, tmp_path: Path) -> None:
    with pytest.raises(ExportFormatError, match="Cannot read"):
        dest.import_(tmp_path / "absent.yaml")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(ExportFormatError, match="not an export archive"):
        dest.import_(tmp_path / "bad.zip")
