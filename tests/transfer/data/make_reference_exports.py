"""Regenerate the reference-butler export files in this folder (run by hand; needs lsst-daf-butler).

    python tests/transfer/data/make_reference_exports.py

Builds a small repository with the reference butler (`lsst.daf.butler`): dimension records with a visit region
(sphgeom ConvexPolygon) and timespans, dataset types (one calibration), datasets in two runs, a TAGGED, a CHAINED
and a CALIBRATION collection with validity ranges, then writes ``reference_v8.yaml`` with the reference's own
``Butler.export`` and ``reference_v8_files/`` holding the same export with its artifacts copied.  Then, with the
reference's old universe definitions (``configs/old_dimensions``), writes ``reference_v0.yaml`` to
``reference_v7.yaml``: one visit and one exposure per universe version.  Up to version 1 a visit carries its
``visit_system``; up to version 5 ``exposure.group_name``/``group_id`` and ``day_obs`` are plain fields; from
version 6 on ``group`` and ``day_obs`` are dimensions with records of their own.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def main() -> None:
    import astropy.time
    import lsst.sphgeom as sg
    from lsst.daf.butler import Butler, DatasetType, Timespan
    from lsst.daf.butler._collection_type import CollectionType

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        Butler.makeRepo(str(root))
        butler = Butler.from_config(str(root), writeable=True)
        reg = butler.registry
        reg.insertDimensionData(
            "instrument",
            {
                "name": "Cam",
                "visit_max": 1000,
                "exposure_max": 1000,
                "detector_max": 4,
                "class_name": "lsst.obs.cam.Cam",
            },
        )
        reg.insertDimensionData("physical_filter", {"instrument": "Cam", "name": "Cam-r", "band": "r"})
        reg.insertDimensionData("detector", *[{"instrument": "Cam", "id": d, "full_name": f"D{d}"} for d in (1, 2)])
        t0 = astropy.time.Time("2024-03-01T03:00:00", scale="tai")
        noon = astropy.time.Time("2024-02-29T12:00:00", scale="tai")
        day = Timespan(noon, astropy.time.Time("2024-03-01T12:00:00", scale="tai"))
        t1 = astropy.time.Time("2024-03-01T03:00:30", scale="tai")
        reg.insertDimensionData("day_obs", {"instrument": "Cam", "id": 20240229, "timespan": day})
        reg.insertDimensionData("group", {"instrument": "Cam", "name": "g1"})
        reg.insertDimensionData(
            "exposure",
            {
                "instrument": "Cam",
                "id": 11,
                "obs_id": "O11",
                "physical_filter": "Cam-r",
                "group": "g1",
                "day_obs": 20240229,
                "exposure_time": 30.0,
                "timespan": Timespan(t0, t1),
                "can_see_sky": True,
            },
        )
        poly = sg.ConvexPolygon(
            [sg.UnitVector3d(sg.LonLat.fromDegrees(lo, la)) for lo, la in [(10, -5), (11, -5), (11, -4), (10, -4)]]
        )
        reg.insertDimensionData("visit_system", {"instrument": "Cam", "id": 0, "name": "one-to-one"})
        reg.insertDimensionData(
            "visit",
            {
                "instrument": "Cam",
                "id": 11,
                "name": "v11",
                "physical_filter": "Cam-r",
                "day_obs": 20240229,
                "exposure_time": 30.0,
                "timespan": Timespan(t0, t1),
                "region": poly,
            },
        )
        reg.insertDimensionData("visit_definition", {"instrument": "Cam", "exposure": 11, "visit": 11})
        reg.insertDimensionData("visit_system_membership", {"instrument": "Cam", "visit_system": 0, "visit": 11})
        reg.insertDimensionData(
            "visit_detector_region", {"instrument": "Cam", "visit": 11, "detector": 1, "region": poly}
        )

        meta = DatasetType("meta", ["visit", "detector"], "StructuredDataDict", universe=butler.dimensions)
        flat = DatasetType(
            "flat",
            ["detector", "physical_filter"],
            "StructuredDataDict",
            universe=butler.dimensions,
            isCalibration=True,
        )
        reg.registerDatasetType(meta)
        reg.registerDatasetType(flat)
        reg.registerRun("run1", doc="First processing")
        reg.registerRun("calib/run")
        refs = [
            butler.put({"visit": 11, "detector": d}, "meta", instrument="Cam", visit=11, detector=d, run="run1")
            for d in (1, 2)
        ]
        flats = [
            butler.put({"flat": i}, "flat", instrument="Cam", detector=1, physical_filter="Cam-r", run="calib/run")
            for i in (0,)
        ]
        flats.append(
            butler.put({"flat": 1}, "flat", instrument="Cam", detector=2, physical_filter="Cam-r", run="calib/run")
        )
        reg.registerCollection("tagged", CollectionType.TAGGED, doc="A hand-picked set")
        reg.associate("tagged", refs[:1])
        reg.registerCollection("calib", CollectionType.CALIBRATION, doc="Certified flats")
        reg.certify(
            "calib",
            flats,
            Timespan(
                astropy.time.Time("2024-01-01T00:00:00", scale="tai"),
                astropy.time.Time("2024-06-01T00:00:00", scale="tai"),
            ),
        )
        reg.certify("calib", flats[:1], Timespan(astropy.time.Time("2024-06-01T00:00:00", scale="tai"), None))
        reg.registerCollection("chain", CollectionType.CHAINED, doc="Everything")
        reg.setCollectionChain("chain", ["tagged", "run1", "calib"])

        out = HERE / "reference_v8.yaml"
        with butler.export(filename=str(out)) as export:
            _fill(export, butler, refs + flats)
        files = HERE / "reference_v8_files"
        shutil.rmtree(files, ignore_errors=True)
        files.mkdir()
        with butler.export(directory=str(files), filename="export.yaml", transfer="copy") as export:
            _fill(export, butler, refs + flats)
    print(f"wrote {out} and {files}", file=sys.stderr)


def old_universe(v: int) -> None:
    """Export from a repository made with the reference's universe version ``v`` (0 to 7)."""
    import astropy.time
    import lsst.daf.butler as dafb
    import lsst.sphgeom as sg
    from lsst.daf.butler import Butler, DatasetType, DimensionConfig, Timespan

    cfg = Path(dafb.__file__).parent / "configs" / "old_dimensions" / f"daf_butler_universe{v}.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        Butler.makeRepo(str(root), dimensionConfig=DimensionConfig(str(cfg)))
        b = Butler.from_config(str(root), writeable=True)
        reg = b.registry
        reg.insertDimensionData(
            "instrument",
            {
                "name": "Cam",
                "visit_max": 1000,
                "exposure_max": 1000,
                "detector_max": 4,
                "class_name": "lsst.obs.cam.Cam",
            },
        )
        reg.insertDimensionData("physical_filter", {"instrument": "Cam", "name": "Cam-r", "band": "r"})
        reg.insertDimensionData("detector", {"instrument": "Cam", "id": 1, "full_name": "D1"})
        span = Timespan(
            astropy.time.Time("2024-03-01T03:00:00", scale="tai"), astropy.time.Time("2024-03-01T03:00:30", scale="tai")
        )
        reg.insertDimensionData("visit_system", {"instrument": "Cam", "id": 0, "name": "one-to-one"})
        common = {"instrument": "Cam", "id": 11, "physical_filter": "Cam-r", "exposure_time": 30.0, "timespan": span}
        exposure = {**common, "obs_id": "O11"}
        visit = {**common, "name": "v11"}
        elements = ["instrument", "physical_filter", "detector", "visit_system"]
        if v < 6:  # group and day_obs were plain fields then
            exposure.update(group_name="g1", group_id=1, day_obs=20240229)
        else:  # ...and dimensions from version 6 on
            reg.insertDimensionData("day_obs", {"instrument": "Cam", "id": 20240229})
            reg.insertDimensionData("group", {"instrument": "Cam", "name": "g1"})
            exposure.update(group="g1", day_obs=20240229)
            elements += ["day_obs", "group"]
        visit["day_obs"] = 20240229
        if v < 2:  # a visit implied its one visit system then
            visit["visit_system"] = 0
        corners = [(10, -5), (11, -5), (11, -4), (10, -4)]
        visit["region"] = sg.ConvexPolygon([sg.UnitVector3d(sg.LonLat.fromDegrees(lo, la)) for lo, la in corners])
        reg.insertDimensionData("exposure", exposure)
        reg.insertDimensionData("visit", visit)
        elements += ["exposure", "visit", "visit_definition"]
        if v < 2:
            reg.insertDimensionData("visit_definition", {"instrument": "Cam", "exposure": 11, "visit_system": 0,
                                                         "visit": 11})  # fmt: skip
        else:
            reg.insertDimensionData("visit_definition", {"instrument": "Cam", "exposure": 11, "visit": 11})
            reg.insertDimensionData("visit_system_membership", {"instrument": "Cam", "visit_system": 0, "visit": 11})
            elements.append("visit_system_membership")
        reg.registerDatasetType(DatasetType("meta", ["visit", "detector"], "StructuredDataDict", universe=b.dimensions))
        reg.registerDatasetType(DatasetType("raw", ["exposure", "detector"], "StructuredDataDict",
                                            universe=b.dimensions))  # fmt: skip
        reg.registerRun("run1")
        refs = [
            b.put({"a": 1}, "meta", instrument="Cam", visit=11, detector=1, run="run1"),
            b.put({"r": 1}, "raw", instrument="Cam", exposure=11, detector=1, run="run1"),
        ]
        with b.export(filename=str(HERE / f"reference_v{v}.yaml")) as export:
            for element in elements:
                export.saveDimensionData(element, reg.queryDimensionRecords(element))
            export.saveDatasets(refs)


def _fill(export: Any, butler: Any, refs: list[Any]) -> None:
    export.saveDataIds(butler.registry.queryDataIds(["visit", "detector", "exposure"]).expanded())
    for element in (
        "visit_system",
        "visit_definition",
        "visit_system_membership",
        "visit_detector_region",
        "day_obs",
        "group",
    ):
        export.saveDimensionData(element, butler.registry.queryDimensionRecords(element))
    export.saveDatasets(refs)
    for name in ("tagged", "calib", "chain"):
        export.saveCollection(name)


if __name__ == "__main__":
    main()
    for version in range(8):
        old_universe(version)
