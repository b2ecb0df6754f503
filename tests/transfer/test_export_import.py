"""Export → import into an empty repository, on SQLite and PostgreSQL: everything comes back, files read the same."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from skybutler import CollectionType
from skybutler.butler import DirectButler
from skybutler.errors import ConfigError, ConflictError, DatasetNotFoundError, PermissionDeniedError, StorageError
from skybutler.testing.files import immutable
from skybutler.transfer import EXPORT_FORMAT_VERSION

Snapshot = Callable[[DirectButler], dict[str, Any]]
ELEMENTS = ["instrument", "band", "physical_filter", "day_obs", "detector", "visit", "visit_detector_region"]


def _records(butler: DirectButler, element: str) -> list[Any]:
    return sorted((r.to_dict() for r in butler.registry.fetch_dimension_records(element)), key=repr)


def _check_same(src: DirectButler, dst: DirectButler, names: list[str]) -> None:
    for element in ELEMENTS:  # the records the datasets stand on, exactly as they were
        copied = _records(dst, element)
        assert copied, element
        assert all(r in _records(src, element) for r in copied), element
    assert _records(dst, "visit") == [r for r in _records(src, "visit") if r["id"] in (1, 2, 3)]
    assert _records(dst, "visit_detector_region") == _records(src, "visit_detector_region")
    for name in names:
        a, b = src.collections.get(name), dst.collections.get(name)
        assert (a.type, a.doc) == (b.type, b.doc), name
    assert dst.collections.children("everything") == ["picked", "test/run", "calib"]
    assert dst.registry.query_dataset_types() == src.registry.query_dataset_types()


def test_round_trip_reproduces_records_collections_datasets_and_files(
    source: dict[str, Any], dest: DirectButler, tmp_path: Path
) -> None:
    src: DirectButler = source["butler"]
    report = src.export(tmp_path / "out" / "export.yaml", collections="everything", directory=tmp_path / "out")
    assert report.datasets == 4 + 1 + 3  # test/run, the tagged one from other/run, the certified flats
    assert report.artifacts == report.datasets
    imported = dest.import_(tmp_path / "out" / "export.yaml", directory=tmp_path / "out")
    assert imported.datasets == report.datasets
    assert imported.artifacts == report.datasets
    _check_same(src, dest, ["test/run", "other/run", "calib/0", "calib/1", "calib/2", "picked", "calib", "everything"])
    # Same UUIDs, data IDs and runs; files read back identically.
    for ref in [*source["metas"], source["other"]]:
        assert dest.get(ref) == src.get(ref)
        found = dest.find_dataset("meta", ref.data_id, collections=ref.run)
        assert found is not None
        assert found.id == ref.id
    picked = dest.query_datasets("meta", collections="picked", find_first=False)
    assert {r.id for r in picked} == {source["metas"][0].id, source["other"].id}
    flats = source["flats"]
    for when, expected in [("2025-01-15", flats[0]), ("2025-02-15", flats[1]), ("2025-06-01", flats[2])]:
        got = dest.find_dataset("flat", instrument="Cam", detector=0, physical_filter="Cam-r", collections="calib",
                                at=when)  # fmt: skip
        assert got is not None, when
        assert got.id == expected.id, when
    assert dest.find_dataset("flat", instrument="Cam", detector=0, physical_filter="Cam-r", collections="calib",
                             at="2024-12-01") is None  # fmt: skip
    assert dest.get("meta", instrument="Cam", visit=1, detector=0, collections="everything") == {"v": 1, "d": 0}


def test_the_document_is_the_reference_format(source: dict[str, Any], tmp_path: Path) -> None:
    src: DirectButler = source["butler"]
    src.export(tmp_path / "e.yaml", collections="everything")
    text = (tmp_path / "e.yaml").read_text()
    head = yaml.safe_load(text.split("data:")[0])
    assert head == {"description": "Butler Data Repository Export", "version": EXPORT_FORMAT_VERSION,
                    "universe_version": 8, "universe_namespace": "daf_butler"}  # fmt: skip
    assert "!uuid '" in text or "!uuid " in text
    assert "!butler_time/tai/iso" in text
    assert "!lsst.daf.butler.Timespan" in text
    assert "!<lsst.sphgeom.ConvexPolygon>" in text
    assert "formatter: lsst.daf.butler.formatters.json.JsonFormatter" in text
    assert "element: band" not in text  # the reference keeps no band table: it derives band from physical_filter


def test_zip_archive_holds_document_files_and_index(source: dict[str, Any], dest: DirectButler, tmp_path: Path) -> None:
    src: DirectButler = source["butler"]
    report = src.export(tmp_path / "all.zip", collections="everything")
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        names = set(archive.namelist())
        index = yaml.safe_load(archive.read("index.json"))
    assert {"export.yaml", "index.json"} <= names
    assert len(index["files"]) == report.artifacts == report.datasets
    assert set(index["files"]) <= names
    dest.import_(tmp_path / "all.zip")
    for ref in source["metas"]:
        assert dest.get(ref) == src.get(ref)


def test_registry_only_import_leaves_datasets_without_files(
    source: dict[str, Any], dest: DirectButler, tmp_path: Path
) -> None:
    src: DirectButler = source["butler"]
    src.export(tmp_path / "e.yaml", refs=source["metas"])
    report = dest.import_(tmp_path / "e.yaml")
    assert report.datasets == 4
    assert report.artifacts == 0
    ref = source["metas"][0]
    assert dest.exists(ref)
    with pytest.raises(DatasetNotFoundError, match="no stored file"):
        dest.get(ref)
    # refs= exports only their runs: no tagged or calibration collection came along.
    assert [c.name for c in dest.registry.query_collections()] == ["test/run"]


def test_reimport_is_refused_or_skipped(source: dict[str, Any], dest: DirectButler, tmp_path: Path) -> None:
    src: DirectButler = source["butler"]
    src.export(tmp_path / "e.yaml", collections="everything", directory=tmp_path / "files")
    dest.import_(tmp_path / "e.yaml", directory=tmp_path / "files")
    before = dest.registry.datasets.count()
    with pytest.raises(ConflictError, match="skip_existing"):
        dest.import_(tmp_path / "e.yaml", directory=tmp_path / "files")
    again = dest.import_(tmp_path / "e.yaml", directory=tmp_path / "files", skip_existing=True)
    assert again.datasets == 0
    assert again.skipped == before
    assert dest.registry.datasets.count() == before


def test_export_selects_by_dataset_type_and_where(source: dict[str, Any], tmp_path: Path) -> None:
    src: DirectButler = source["butler"]
    report = src.export(tmp_path / "e.yaml", collections="test/run", dataset_types="meta", where="visit = 2")
    assert report.datasets == 2
    assert report.collections == 1


def test_progress_hook_sees_every_phase(source: dict[str, Any], dest: DirectButler, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int | None]] = []
    src: DirectButler = source["butler"]
    src.export(tmp_path / "e.yaml", collections="everything", directory=tmp_path / "f",
               progress=lambda *a: calls.append(a))  # fmt: skip
    dest.import_(tmp_path / "e.yaml", directory=tmp_path / "f", progress=lambda *a: calls.append(a))
    phases = {c[0] for c in calls}
    assert {"select", "files", "read", "records", "datasets", "done"} <= phases
    assert calls[-1] == ("done", 8, 8)


@pytest.mark.parametrize("mode", ["symlink", "relsymlink", "hardlink", "link", "move"])
def test_import_transfer_modes(source: dict[str, Any], dest: DirectButler, tmp_path: Path, mode: str) -> None:
    src: DirectButler = source["butler"]
    src.export(tmp_path / "e.yaml", refs=source["metas"], directory=tmp_path / "files")
    dest.import_(tmp_path / "e.yaml", directory=tmp_path / "files", transfer=mode)
    ref = source["metas"][1]
    assert dest.get(ref) == src.get(ref)
    local = Path(dest.get_uri(ref).removeprefix("file://"))
    exported = list((tmp_path / "files").rglob("*.json"))
    if mode == "move":
        assert exported == []
        assert not local.is_symlink()
    elif mode in ("symlink", "relsymlink"):
        assert local.is_symlink()
        assert Path(local.readlink()).is_absolute() == (mode == "symlink")
    else:
        assert local.stat().st_nlink == 2


def test_export_links_files_and_refuses_bad_modes(source: dict[str, Any], tmp_path: Path) -> None:
    src: DirectButler = source["butler"]
    src.export(tmp_path / "e.yaml", refs=source["metas"], directory=tmp_path / "f", transfer="symlink")
    assert all(p.is_symlink() for p in (tmp_path / "f").rglob("*.json"))
    with pytest.raises(ConfigError, match="transfer mode"):
        src.export(tmp_path / "e.yaml", refs=source["metas"], directory=tmp_path / "g", transfer="move")
    with pytest.raises(ConfigError, match="directory"):
        src.export(tmp_path / "e.yaml", refs=source["metas"], transfer="copy")


def test_import_needs_a_writeable_butler(source: dict[str, Any], dest: DirectButler, tmp_path: Path) -> None:
    src: DirectButler = source["butler"]
    src.export(tmp_path / "e.yaml", refs=source["metas"])
    with DirectButler(dest.root) as read_only, pytest.raises(PermissionDeniedError):
        read_only.import_(tmp_path / "e.yaml")


def test_whole_repository_export_when_nothing_is_named(
    source: dict[str, Any], dest: DirectButler, tmp_path: Path
) -> None:
    src: DirectButler = source["butler"]
    report = src.export(tmp_path / "all.zip")
    assert report.datasets == 4 + 1 + 3
    dest.import_(tmp_path / "all.zip")
    types = {c.name: c.type for c in dest.registry.query_collections()}
    assert types["calib"] is CollectionType.CALIBRATION
    assert types["everything"] is CollectionType.CHAINED
    assert dest.get(source["flats"][0]) == {"flat": 0}


def test_a_move_import_whose_export_files_cannot_be_deleted(
    source: dict[str, Any], dest: DirectButler, tmp_path: Path
) -> None:
    """Everything is imported and readable; the error says so and names a file left in the export."""
    src: DirectButler = source["butler"]
    src.export(tmp_path / "e.yaml", refs=source["metas"], directory=tmp_path / "files")
    stuck = sorted((tmp_path / "files").rglob("*.json"))[0]
    with immutable(stuck):  # not even root may delete it
        with pytest.raises(StorageError, match=r"everything is imported, but 1 moved file\(s\) could not be deleted"):
            dest.import_(tmp_path / "e.yaml", directory=tmp_path / "files", transfer="move")
        assert stuck.exists()
    assert [dest.get(ref) for ref in source["metas"]] == [src.get(ref) for ref in source["metas"]]
    assert sorted((tmp_path / "files").rglob("*.json")) == [stuck]
