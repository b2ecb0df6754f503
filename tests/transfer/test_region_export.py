"""Regions through export and import: our exports carry them in the reference's form, and it reads them.

Exports write each region as ``!<lsst.sphgeom.ConvexPolygon> {encoded: <hex>}``, the form the reference writes;
an import fills the skypix overlap index as well as the records, so spatial queries work on imported data.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.testing.fixtures import POSTGRES_URL, fresh_schema
from skybutler.testing.spatial import fill_spatial_sample

try:
    HAS_REFERENCE = importlib.util.find_spec("lsst.daf.butler") is not None
except ModuleNotFoundError:
    HAS_REFERENCE = False

QUERIES = [
    (["visit", "detector"], "visit_detector_region.region OVERLAPS POINT(150.0, 2.0)"),
    (["visit", "tract", "patch"], ""),
    (["visit", "detector", "tract", "patch"], ""),
    (["tract", "patch"], "patch.region OVERLAPS BOX(149.9, 2.1, 0.1, 0.1)"),
]


@pytest.fixture
def exported(registry_url: tuple[str, str | None], tmp_path: Path) -> Iterator[tuple[DirectButler, Path]]:
    """A repository with the spatial sample and a dataset per visit and detector, exported with its records."""
    url, _ = registry_url
    with contextlib.ExitStack() as stack:
        if url.startswith("sqlite"):
            Butler.create(tmp_path / "source")
        else:
            schema = stack.enter_context(fresh_schema(POSTGRES_URL))
            Butler.create(tmp_path / "source", registry=POSTGRES_URL, schema=schema)
        butler = stack.enter_context(DirectButler(tmp_path / "source", writeable=True, run="run"))
        yield _fill(butler, tmp_path)


def _fill(butler: DirectButler, tmp_path: Path) -> tuple[DirectButler, Path]:
    fill_spatial_sample(butler.registry)
    butler.register_dataset_type("calexp", ["visit", "detector"], "StructuredDataDict")
    for visit in range(3):
        for detector in range(4):
            butler.put({"v": visit}, "calexp", instrument="Cam", visit=visit, detector=detector)
    path = tmp_path / "export.yaml"
    butler.export(path, collections="run")
    return butler, path


def _ids(found: object, dims: list[str]) -> list[tuple[object, ...]]:
    return sorted(tuple(d[k] for k in dims) for d in found)  # type: ignore[attr-defined]


def test_export_writes_the_reference_region_form(exported: tuple[DirectButler, Path]) -> None:
    butler, path = exported
    text = path.read_text()
    assert "!<lsst.sphgeom.ConvexPolygon>" in text or "!lsst.sphgeom.ConvexPolygon" in text
    (visit,) = butler.registry.fetch_dimension_records("visit", instrument="Cam", visit=1)
    assert visit.region.encode().hex() in text


def test_our_import_fills_the_overlap_index(exported: tuple[DirectButler, Path], dest: DirectButler) -> None:
    source, path = exported
    dest.import_(path)
    # the sky map is not a dimension of the exported datasets: bring it over by hand, then query
    for element in ("skymap", "tract", "patch"):
        dest.registry.insert_dimension_records(element, source.registry.fetch_dimension_records(element))
    for dims, where in QUERIES:
        assert _ids(dest.query_data_ids(dims, where=where), dims) == _ids(
            source.query_data_ids(dims, where=where), dims
        )
    assert _ids(dest.query_data_ids(["visit", "detector"], where=QUERIES[0][1]), ["visit", "detector"])


@pytest.mark.skipif(not HAS_REFERENCE, reason="lsst-daf-butler (the reference butler) is not installed")
def test_the_reference_imports_our_regions(exported: tuple[DirectButler, Path], tmp_path: Path) -> None:
    from lsst.daf.butler import Butler as RefButler
    from lsst.daf.butler.transfers import YamlRepoImportBackend

    source, path = exported
    root = tmp_path / "ref"
    RefButler.makeRepo(str(root))
    ref = RefButler.from_config(str(root), writeable=True)
    with path.open() as stream:
        backend = YamlRepoImportBackend(stream, ref)
    backend.register()
    backend.load(None)
    ours = {
        (r.visit, r.detector): r.region.encode()
        for r in source.registry.fetch_dimension_records("visit_detector_region")
    }
    theirs = {(r.visit, r.detector): r.region.encode() for r in ref.query_dimension_records("visit_detector_region")}
    assert theirs == ours
    where = "instrument = 'Cam' AND visit_detector_region.region OVERLAPS POINT(150.0, 2.0)"
    expected = _ids(ref.query_data_ids(["visit", "detector"], where=where, explain=False), ["visit", "detector"])
    assert expected == _ids(source.query_data_ids(["visit", "detector"], where=where), ["visit", "detector"])
