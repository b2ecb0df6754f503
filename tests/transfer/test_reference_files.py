"""A reference repository's files import and read: its exposures and catalogs as ours, the rest as opaque bytes.

The export document is in the reference's dialect (formatter class paths, its storage class names); the
files are built with astropy in the reference stack's layouts (see ``tests/formatters/test_afw_fits.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.formatters.test_afw_fits import X0, Y0, planes, write_reference_catalog, write_reference_exposure

from skybutler import Butler
from skybutler.astro import Box, Exposure
from skybutler.errors import FormatterError

SKYMAP_BYTES = b"\x80\x04a pickled lsst.skymap object, never unpickled here"

EXPORT = """\
description: Butler Data Repository Export
version: 1.0.2
universe_version: 7
universe_namespace: daf_butler
data:
- type: dimension
  element: instrument
  records:
  - {name: HSC, visit_max: 21474800, exposure_max: 21474800, detector_max: 200,
     class_name: lsst.obs.subaru.HyperSuprimeCam}
- type: dimension
  element: skymap
  records:
  - name: rings
    hash: !!binary |
      4p/p8QCONZ82o2d+fWnMQ5N20eY=
    tract_max: 10
    patch_nx_max: 9
    patch_ny_max: 9
- type: dimension
  element: detector
  records:
  - {instrument: HSC, id: 50, full_name: "1_50", name_in_raft: "50", raft: "1", purpose: SCIENCE}
- type: collection
  collection_type: RUN
  name: HSC/runs/old
  host: null
  timespan_begin: null
  timespan_end: null
- type: dataset_type
  name: postISRCCD
  dimensions: [instrument, detector]
  storage_class: ExposureF
  is_calibration: false
- type: dataset_type
  name: src
  dimensions: [instrument, detector]
  storage_class: SourceCatalog
  is_calibration: false
- type: dataset_type
  name: skyMap
  dimensions: [skymap]
  storage_class: SkyMap
  is_calibration: false
- type: dataset
  dataset_type: postISRCCD
  run: HSC/runs/old
  records:
  - dataset_id: [!uuid '1b3a4c19-dffa-4942-af1d-b123a1497a00']
    data_id: [{instrument: HSC, detector: 50}]
    path: HSC/runs/old/postISRCCD/postISRCCD_HSC_50.fits
    formatter: lsst.obs.base.formatters.fitsExposure.FitsExposureFormatter
- type: dataset
  dataset_type: src
  run: HSC/runs/old
  records:
  - dataset_id: [!uuid '2b3a4c19-dffa-4942-af1d-b123a1497a00']
    data_id: [{instrument: HSC, detector: 50}]
    path: HSC/runs/old/src/src_HSC_50.fits
    formatter: lsst.obs.base.formatters.fitsGeneric.FitsGenericFormatter
- type: dataset
  dataset_type: skyMap
  run: HSC/runs/old
  records:
  - dataset_id: [!uuid '3b3a4c19-dffa-4942-af1d-b123a1497a00']
    data_id: [{skymap: rings}]
    path: HSC/runs/old/skyMap/skyMap_rings.pickle
    formatter: lsst.daf.butler.formatters.pickle.PickleFormatter
"""


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    root = tmp_path / "export"
    for sub in ("postISRCCD", "src", "skyMap"):
        (root / "HSC/runs/old" / sub).mkdir(parents=True)
    write_reference_exposure(root / "HSC/runs/old/postISRCCD/postISRCCD_HSC_50.fits")
    write_reference_catalog(root / "HSC/runs/old/src/src_HSC_50.fits")
    (root / "HSC/runs/old/skyMap/skyMap_rings.pickle").write_bytes(SKYMAP_BYTES)
    (root / "export.yaml").write_text(EXPORT)
    return root


def test_reference_files_import_and_read_as_our_types(dest: Butler, exported: Path) -> None:
    report = dest.import_(exported / "export.yaml", directory=exported)
    assert (report.datasets, report.artifacts) == (3, 3)
    image, mask, _ = planes()
    exposure = dest.get("postISRCCD", instrument="HSC", detector=50, collections="HSC/runs/old")
    assert isinstance(exposure, Exposure)
    np.testing.assert_array_equal(exposure.mask, mask)
    cut = dest.get(
        "postISRCCD", instrument="HSC", detector=50, collections="HSC/runs/old",
        parameters={"bbox": Box(x0=X0 + 3, y0=Y0 + 4, width=5, height=6)},  # parent coordinates
    )  # fmt: skip
    np.testing.assert_array_equal(cut.image, image[4:10, 3:8])
    assert (
        dest.get("postISRCCD.visit_info", instrument="HSC", detector=50, collections="HSC/runs/old")["EXPID"] == 903334
    )
    table = dest.get("src", instrument="HSC", detector=50, collections="HSC/runs/old")
    assert list(table["base_PsfFlux_flag"]) == [True, True, False, False]
    frame = dest.get("src", instrument="HSC", detector=50, collections="HSC/runs/old", storage_class="DataFrame")
    assert list(frame["id"]) == [1, 2, 3, 4]


def test_an_opaque_dataset_is_registered_queryable_and_says_how_to_read_it(dest: Butler, exported: Path) -> None:
    dest.import_(exported / "export.yaml", directory=exported)
    (ref,) = dest.query_datasets("skyMap", collections="HSC/runs/old")
    assert ref.dataset_type.storage_class == "SkyMap"
    uri = dest.get_uri(ref)
    with pytest.raises(FormatterError) as caught:
        dest.get(ref)
    message = str(caught.value)
    for part in ("lsst.skymap.BaseSkyMap", "storage_class='Bytes'", str(uri)):
        assert part in message
    assert dest.get(ref, storage_class="Bytes") == SKYMAP_BYTES  # the raw bytes, as the reference wrote them
    # any dataset's file can be read raw
    raw = dest.get("src", instrument="HSC", detector=50, collections="HSC/runs/old", storage_class="Bytes")
    assert raw == (exported / "HSC/runs/old/src/src_HSC_50.fits").read_bytes()


def test_opaque_datasets_transfer_byte_for_byte(dest: Butler, exported: Path, tmp_path: Path) -> None:
    dest.import_(exported / "export.yaml", directory=exported)
    out = tmp_path / "again"
    refs = list(dest.query_datasets("*", collections="HSC/runs/old"))
    dest.export(out / "export.yaml", refs=refs, directory=out)
    Butler.create(tmp_path / "third")
    with Butler(tmp_path / "third", writeable=True) as third:
        third.import_(out / "export.yaml", directory=out)
        (ref,) = third.query_datasets("skyMap", collections="HSC/runs/old")
        assert third.get(ref, storage_class="Bytes") == SKYMAP_BYTES
        exposure = third.get("postISRCCD", instrument="HSC", detector=50, collections="HSC/runs/old")
        np.testing.assert_array_equal(exposure.mask, planes()[1])


def test_a_reexport_writes_the_reference_formatters_back(dest: Butler, exported: Path, tmp_path: Path) -> None:
    """Files that came from the reference are exported with the formatter class paths its export gave (not our
    readers' names, ``afw_fits`` and ``opaque``, which the reference does not know), so it can import them."""
    import importlib.util
    import warnings

    import yaml

    dest.import_(exported / "export.yaml", directory=exported)
    out = tmp_path / "again"
    refs = list(dest.query_datasets("*", collections="HSC/runs/old"))
    dest.export(out / "export.yaml", refs=refs, directory=out)

    class Loader(yaml.SafeLoader):  # the reference's tags (!uuid, ...) read as plain values
        pass

    Loader.add_multi_constructor("!", lambda loader, _, node: loader.construct_scalar(node))
    document = yaml.load((out / "export.yaml").read_text(), Loader=Loader)
    written = {
        block["dataset_type"]: [r["formatter"] for r in block["records"]]
        for block in document["data"]
        if block["type"] == "dataset"
    }
    assert written == {
        "postISRCCD": ["lsst.obs.base.formatters.fitsExposure.FitsExposureFormatter"],
        "src": ["lsst.obs.base.formatters.fitsGeneric.FitsGenericFormatter"],
        "skyMap": ["lsst.daf.butler.formatters.pickle.PickleFormatter"],
    }
    if importlib.util.find_spec("lsst.daf.butler") is None:
        return
    from lsst.daf.butler import Butler as ReferenceButler

    # The reference imports the export.  It loads the formatter class of every file it ingests (even
    # registry-only): here only lsst-daf-butler is installed, not lsst.obs.base holding the FITS ones, so the
    # sky map (its PickleFormatter) is what it can take, with its file.
    skymap_only = tmp_path / "skymap" / "export.yaml"
    dest.export(skymap_only, refs=[r for r in refs if r.dataset_type.name == "skyMap"], directory=skymap_only.parent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ReferenceButler.makeRepo(str(tmp_path / "reference"))
        reference = ReferenceButler.from_config(str(tmp_path / "reference"), writeable=True)
        reference.import_(filename=str(skymap_only), directory=str(skymap_only.parent), transfer="copy")
        (found,) = reference.registry.queryDatasets("skyMap", collections=...)
        assert str(found.id) == str(next(r.id for r in refs if r.dataset_type.name == "skyMap"))
        assert reference.getURI(found).read() == SKYMAP_BYTES
        assert reference.stored(found)
        reference.close()


def test_the_reference_formatters_survive_a_second_hop(dest: Butler, exported: Path, tmp_path: Path) -> None:
    """Reference → us → our export → another of ours → its export: still the reference's class paths."""
    dest.import_(exported / "export.yaml", directory=exported)
    first = tmp_path / "first"
    dest.export(first / "export.yaml", refs=list(dest.query_datasets("*", collections="HSC/runs/old")), directory=first)
    Butler.create(tmp_path / "third")
    with Butler(tmp_path / "third", writeable=True) as third:
        third.import_(first / "export.yaml", directory=first)
        second = tmp_path / "second"
        third.export(second / "export.yaml", refs=list(third.query_datasets("*", collections="HSC/runs/old")),
                     directory=second)  # fmt: skip
    text = (second / "export.yaml").read_text()
    for path in ("lsst.obs.base.formatters.fitsExposure.FitsExposureFormatter",
                 "lsst.obs.base.formatters.fitsGeneric.FitsGenericFormatter",
                 "lsst.daf.butler.formatters.pickle.PickleFormatter"):  # fmt: skip
        assert f"formatter: {path}" in text
    assert "afw_fits" not in text
    assert "opaque" not in text
