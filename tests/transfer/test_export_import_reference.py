"""Exports written by the reference butler (``lsst-daf-butler``) load here, and ours load there.

The files in ``data/`` were written by the reference itself (``data/make_reference_exports.py``): universe
version 8 with regions, timespans, tagged and calibration associations and a chain, and each of universe
versions 0 to 7 (records from before visit-system memberships, before the ``group``/``day_obs`` dimensions,
and after).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from skybutler import Timespan
from skybutler.butler import DirectButler
from skybutler.dimensions import to_tai_ns

DATA = Path(__file__).parent / "data"
try:
    HAS_REFERENCE = importlib.util.find_spec("lsst.daf.butler") is not None
except ModuleNotFoundError:  # no ``lsst`` namespace at all
    HAS_REFERENCE = False
needs_reference = pytest.mark.skipif(
    not HAS_REFERENCE, reason="lsst-daf-butler (the reference butler) is not installed"
)


def _ids(path: Path) -> list[str]:
    return [line.split("'")[1] for line in path.read_text().splitlines() if "- !uuid" in line]


def test_reference_export_with_files_loads_everything(dest: DirectButler) -> None:
    report = dest.import_(DATA / "reference_v8_files" / "export.yaml", directory=DATA / "reference_v8_files")
    assert report.datasets == 4
    assert report.artifacts == 4
    assert report.notes == []
    (visit,) = dest.registry.fetch_dimension_records("visit")
    text = (DATA / "reference_v8.yaml").read_text()
    encoded = text.split("encoded: ")[1].split()[0]
    assert visit.region.encode() == bytes.fromhex(encoded)
    assert visit.timespan == Timespan.from_times("2024-03-01T03:00:00 TAI", "2024-03-01T03:00:30 TAI")
    (day,) = dest.registry.fetch_dimension_records("day_obs")
    assert day.timespan == Timespan.from_times("2024-02-29T12:00:00 TAI", "2024-03-01T12:00:00 TAI")
    assert [b.name for b in dest.registry.fetch_dimension_records("band")] == ["r"]  # derived: no band table there
    assert dest.collections.children("chain") == ["tagged", "run1", "calib"]
    assert dest.collections.get("run1").doc == "First processing"
    assert dest.get("meta", instrument="Cam", visit=11, detector=2, collections="chain") == {"visit": 11, "detector": 2}
    tagged = list(dest.query_datasets("meta", collections="tagged", find_first=False))
    assert len(tagged) == 1
    flat: dict[str, Any] = {"instrument": "Cam", "physical_filter": "Cam-r"}
    assert dest.get("flat", flat, detector=1, at="2024-03-01T00:00:00", collections="calib") == {"flat": 0}
    assert dest.get("flat", flat, detector=1, at="2025-03-01T00:00:00", collections="calib") == {"flat": 0}
    assert dest.find_dataset("flat", flat, detector=2, at="2025-03-01T00:00:00", collections="calib") is None
    at = to_tai_ns("2024-05-31T23:59:00 TAI")  # the range ended 2024-06-01
    assert dest.find_dataset("flat", flat, detector=2, at=at, collections="calib") is not None


def test_reference_export_without_files_registers_ids(dest: DirectButler) -> None:
    report = dest.import_(DATA / "reference_v8.yaml")
    assert report.artifacts == 0
    ids = {str(r.id) for r in dest.query_datasets("*", collections=["run1", "calib/run"], find_first=False)}
    assert ids == set(_ids(DATA / "reference_v8.yaml")) - set()


def test_registry_only_import_records_files_already_in_place(dest: DirectButler) -> None:
    """The reference's "transfer=None": files already at the exported paths in this datastore are used."""
    import shutil

    root = dest.datastore.files().transport.local_path("")
    shutil.copytree(DATA / "reference_v8_files" / "run1", root / "run1")
    report = dest.import_(DATA / "reference_v8.yaml")
    assert report.artifacts == 2  # the two meta files; the flats are registered without files
    assert dest.get("meta", instrument="Cam", visit=11, detector=1, collections="run1") == {"visit": 11, "detector": 1}
    flat = dest.find_dataset("flat", instrument="Cam", detector=1, physical_filter="Cam-r", collections="calib/run")
    assert flat is not None
    assert dest.exists(flat)


@pytest.mark.parametrize("version", range(8))
def test_old_universe_exports_are_upgraded(dest: DirectButler, version: int) -> None:
    report = dest.import_(DATA / f"reference_v{version}.yaml")
    assert report.datasets == 2
    # Before version 6 day_obs was a plain field: its records are made from the values the file holds.
    assert any("day_obs records were created" in n for n in report.notes) == (version < 6)
    (exposure,) = dest.registry.fetch_dimension_records("exposure")
    assert exposure.group == "g1"  # group_name became the group dimension
    assert exposure.day_obs == 20240229
    assert [g.name for g in dest.registry.fetch_dimension_records("group")] == ["g1"]
    (day,) = dest.registry.fetch_dimension_records("day_obs")
    assert (day.id, day.timespan) == (20240229, None)  # the instrument's day boundary is not in the file
    (membership,) = dest.registry.fetch_dimension_records("visit_system_membership")
    assert (membership.visit_system, membership.visit) == (0, 11)
    (definition,) = dest.registry.fetch_dimension_records("visit_definition")
    assert (definition.exposure, definition.visit) == (11, 11)
    # A universe-0 dataset type listed visit_system among its dimensions; visits no longer imply one.
    assert dest.get_dataset_type("meta").dimensions.required == ("instrument", "detector", "visit")
    assert dest.find_dataset("raw", instrument="Cam", exposure=11, detector=1, collections="run1") is not None


def test_version_zero_and_newer_minor_versions_are_read(dest: DirectButler, tmp_path: Path) -> None:
    text = (DATA / "reference_v8.yaml").read_text()
    for n, version in enumerate(["0", "1.3.0"]):
        path = tmp_path / f"v{n}.yaml"
        path.write_text(text.replace("version: 1.0.2", f"version: {version}"))
        report = dest.import_(path, skip_existing=True)
        assert report.datasets + report.skipped == 4


@needs_reference
def test_the_reference_imports_our_export(source: dict[str, object], tmp_path: Path) -> None:
    from lsst.daf.butler import Butler as ReferenceButler

    src = source["butler"]
    assert isinstance(src, DirectButler)
    src.export(tmp_path / "out" / "export.yaml", collections="everything", directory=tmp_path / "out")
    ReferenceButler.makeRepo(str(tmp_path / "ref"))
    ref = ReferenceButler.from_config(str(tmp_path / "ref"), writeable=True)
    ref.import_(filename=str(tmp_path / "out" / "export.yaml"), directory=str(tmp_path / "out"), transfer="copy")
    assert list(ref.registry.getCollectionChain("everything")) == ["picked", "test/run", "calib"]
    ours = {r.id for r in src.query_datasets("meta", collections="test/run")}
    theirs = {r.id for r in ref.registry.queryDatasets("meta", collections="test/run")}
    assert theirs == ours
    assert ref.get("meta", instrument="Cam", visit=2, detector=1, collections="everything") == {"v": 2, "d": 1}
    calib = list(ref.registry.queryDatasetAssociations("flat", collections="calib"))
    assert {a.ref.id for a in calib} == {r.id for r in source["flats"]}  # type: ignore[attr-defined]
    records = list(ref.registry.queryDimensionRecords("visit_detector_region", instrument="Cam", visit=1))
    assert len(records) == 2
    assert records[0].region.encode() == source["region"]
    ref.close()


@needs_reference
def test_the_reference_imports_our_export_of_a_type_with_a_format(butler: DirectButler, tmp_path: Path) -> None:
    """Our ``skybutler_format`` key in a dataset type entry is ignored by the reference, which imports the rest."""
    from lsst.daf.butler import Butler as ReferenceButler

    butler.register_dataset_type("notes", ["instrument", "visit", "detector"], "StructuredDataDict", format="yaml")
    ref = butler.put({"n": 1}, "notes", instrument="Cam", visit=1, detector=0)
    out = tmp_path / "out"
    butler.export(out / "export.yaml", collections="test/run", directory=out)
    assert "skybutler_format: yaml" in (out / "export.yaml").read_text()
    ReferenceButler.makeRepo(str(tmp_path / "ref"))
    reference = ReferenceButler.from_config(str(tmp_path / "ref"), writeable=True)
    reference.import_(filename=str(out / "export.yaml"), directory=str(out), transfer="copy")
    assert reference.get_dataset_type("notes").storageClass_name == "StructuredDataDict"
    assert reference.get("notes", instrument="Cam", visit=1, detector=0, collections="test/run") == {"n": 1}
    assert {r.id for r in reference.registry.queryDatasets("notes", collections="test/run")} == {ref.id}
    reference.close()


@needs_reference
def test_reference_round_trip_through_us_keeps_ids(dest: DirectButler, tmp_path: Path) -> None:
    """Reference export → our import → our export → the reference imports it: same IDs, same chain."""
    from lsst.daf.butler import Butler as ReferenceButler

    dest.import_(DATA / "reference_v8_files" / "export.yaml", directory=DATA / "reference_v8_files")
    dest.export(tmp_path / "again.zip", collections="chain")
    import zipfile

    with zipfile.ZipFile(tmp_path / "again.zip") as archive:
        archive.extractall(tmp_path / "again")
    document = yaml.safe_load((tmp_path / "again" / "index.json").read_text())
    assert len(document["files"]) == 4
    ReferenceButler.makeRepo(str(tmp_path / "ref"))
    ref = ReferenceButler.from_config(str(tmp_path / "ref"), writeable=True)
    ref.import_(filename=str(tmp_path / "again" / "export.yaml"), directory=str(tmp_path / "again"), transfer="copy")
    got = {str(r.id) for r in ref.registry.queryDatasets(..., collections="chain", findFirst=False)}
    assert got == set(_ids(DATA / "reference_v8.yaml"))  # the 2 meta of run1 (one also tagged), the 2 flats
    ref.close()
