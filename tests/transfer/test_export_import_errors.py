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
                                    "storage_class: NoSuchClass\n  is_calibration: false"),
     r"storage_class .*unknown storage class 'NoSuchClass'"),  # the reference's names (ExposureF) are known
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
    with pytest.raises(ExportFormatError, match="not a readable export archive"):
        dest.import_(tmp_path / "bad.zip")


# -- damaged files: bytes that are not text, archives cut short or with flipped bits ---------------------------
FILES = DATA / "reference_v8_files"
MEMBER = "run1/meta/20240229/r/Cam-r/11/meta_Cam_r_Cam-r_11_D1_run1.yaml"


def _archive(document: bytes = REFERENCE.encode()) -> bytes:
    """A zip export of the reference files: the document deflated, the files stored (as `export` writes)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr("export.yaml", document, compress_type=zipfile.ZIP_DEFLATED)
        for file in sorted(FILES.rglob("*")):
            if file.is_file() and file.name != "export.yaml":
                out.write(file, file.relative_to(FILES).as_posix())
    return buffer.getvalue()


def _flip(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0x01
    return bytes(out)


def _damaged() -> list[tuple[str, str, bytes, str]]:
    text = REFERENCE.encode()
    middle = text.index(b"exposure_time")
    archive = _archive()
    member = archive.index((FILES / MEMBER).read_bytes()) + 3  # stored: its bytes are in the archive as they are
    return [
        # (id, file name, bytes, pattern the message must match)
        ("non-utf8-byte", "e.yaml", text[:middle] + b"\xff" + text[middle + 1 :],
         rf"\(byte {middle}, line 63\) is not an export file: byte 0xff is not UTF-8"),
        ("binary", "e.yaml", bytes(range(256)) * 8, r"\(byte 128, line 2\) is not an export file"),
        ("nul", "e.yaml", text.replace(b"obs_id: O11", b"obs_id: O1\x001"), r"\(position 1229, line 62\).*#x0000"),
        ("empty", "e.yaml", b"", r"the top level: an export file is a YAML mapping .* got an empty file"),
        ("empty-zip", "e.zip", b"", r"not a readable export archive .*File is not a zip file"),
        ("truncated-zip", "e.zip", archive[: len(archive) // 2], r"not a readable export archive"),
        ("binary-zip", "e.zip", bytes(range(256)) * 8, r"not a readable export archive"),
        ("flipped-bit-in-document", "e.zip", _flip(archive, 80), r"not a readable export archive"),
        ("flipped-bit-in-a-file", "e.zip", _flip(archive, member),
         rf"The export's file '{MEMBER}' in .*e\.zip is damaged: Bad CRC-32"),
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "data", "pattern"), [c[1:] for c in _damaged()], ids=[c[0] for c in _damaged()])
def test_damaged_export_is_our_error_on_one_line(
    dest: Butler, snapshot: Snapshot, tmp_path: Path, name: str, data: bytes, pattern: str
) -> None:
    before = snapshot(dest)
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ExportFormatError, match=pattern) as info:
        dest.import_(path, directory=FILES if name.endswith(".yaml") else None)
    assert "\n" not in str(info.value)
    assert snapshot(dest) == before
    assert not list((tmp_path / "dest" / ".staging").glob("*"))


def test_every_flipped_bit_of_an_archive_is_our_error_or_imports(dest: Butler, tmp_path: Path) -> None:
    """A bounded sweep: a bit flipped at 48 places of a zip export never escapes as another exception."""
    archive = _archive()
    step = max(1, len(archive) // 48)
    for offset in range(0, len(archive), step):
        path = tmp_path / "flipped.zip"
        path.write_bytes(_flip(archive, offset))
        message = ""
        try:
            dest.import_(path, skip_existing=True)
        except SkyButlerError as exc:
            message = str(exc)
        assert "\n" not in message, offset


def test_a_utf16_export_is_read_as_pyyaml_reads_it(dest: Butler, tmp_path: Path) -> None:
    path = tmp_path / "utf16.yaml"
    path.write_bytes(REFERENCE.encode("utf-16"))
    report = dest.import_(path, directory=FILES)
    assert report.datasets == 4
