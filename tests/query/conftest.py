"""The realistic query repository ``sky`` shared by the query tests (SQLite and PostgreSQL alike).

The repository (fixture ``sky``, built on the shipped ``butler`` fixture, so it runs on both back-ends):

* instrument ``Cam``: bands g, r, i; 10 detectors (0-7 SCIENCE, 8 WAVEFRONT, 9 GUIDER); 100 visits and exposures,
  one minute apart from 2025-01-01T12:00 UTC, 30 s long, exposure_time 15/30/45/60 s (NULL for 24, 49, 74, 99);
* instrument ``Cam2``: filters Cam2-r, Cam2-z; 4 detectors; visits 0-9 (the same numbers as Cam's: only the
  instrument tells them apart), on 2025-01-02, exposure_time 100 s;
* runs ``proc/v1`` (calexp of Cam visits 0-29, src of visits 0-14, summary of visits 0-29), ``proc/v2`` (calexp of
  visits 0-9 again), ``cam2/run`` (calexp of every Cam2 visit and detector);
* chain ``proc`` = [proc/v2, proc/v1]; TAGGED ``best`` with the proc/v1 calexps of visit 5; CALIBRATION ``calib``
  with bias from ``calib/run1`` valid until 2025-01-01T12:30 UTC and from ``calib/run2`` after;
  chain ``everything`` = [best, proc, calib, cam2/run].
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from skybutler.butler import DirectButler
from skybutler.datasets import DatasetRef
from skybutler.dimensions import DataCoordinate

NOON_UTC_S = 1_735_732_800  # 2025-01-01T12:00:00 UTC, in Unix seconds
LEAP_NS = 37 * 10**9  # TAI - UTC in 2025
N_VISITS = 100
CAM_FILTERS = ["Cam-g", "Cam-r", "Cam-i"]


def visit_span(visit: int, day: int = 0) -> tuple[int, int]:
    """TAI ns of a visit (and its exposure): ``visit`` minutes after noon UTC of day ``day``, 30 s long."""
    begin = (NOON_UTC_S + day * 86_400 + visit * 60) * 10**9 + LEAP_NS
    return begin, begin + 30 * 10**9


def exposure_time(visit: int) -> float | None:
    return None if visit % 25 == 24 else 15.0 * (1 + visit % 4)


def cam_filter(visit: int) -> str:
    """Cam visits 0-19 come from `populate_sample` (odd: r, even: g); the others cycle g, r, i."""
    if visit < 20:
        return "Cam-r" if visit % 2 else "Cam-g"
    return CAM_FILTERS[visit % 3]


@dataclass
class Sky:
    butler: DirectButler
    v1_calexps: list[DatasetRef]
    v2_calexps: list[DatasetRef]
    bias1: list[DatasetRef]
    bias2: list[DatasetRef]


@pytest.fixture
def sky(butler: DirectButler) -> Sky:
    """The repository described in the module docstring, on each back-end of ``butler``."""
    reg = butler.registry
    for record in reg.fetch_dimension_records("visit"):
        data = record.to_dict()
        data["exposure_time"] = exposure_time(data["id"])
        reg.sync_dimension_records("visit", data, update=True)
    for record in reg.fetch_dimension_records("detector"):
        data = record.to_dict()
        data["purpose"] = "SCIENCE" if data["id"] < 8 else ("WAVEFRONT" if data["id"] == 8 else "GUIDER")
        reg.sync_dimension_records("detector", data, update=True)
    reg.insert_dimension_records("band", [{"name": "i"}, {"name": "z"}])
    reg.insert_dimension_records("physical_filter", [{"instrument": "Cam", "name": "Cam-i", "band": "i"}])
    reg.insert_dimension_records(
        "visit",
        [
            {"instrument": "Cam", "id": v, "name": f"v{v}", "physical_filter": cam_filter(v), "day_obs": 20250101,
             "exposure_time": exposure_time(v), "timespan": visit_span(v)}
            for v in range(20, N_VISITS)
        ],
    )  # fmt: skip
    reg.insert_dimension_records("group", [{"instrument": "Cam", "name": "night1"}])
    reg.insert_dimension_records(
        "exposure",
        [
            {"instrument": "Cam", "id": v, "obs_id": f"e{v}", "physical_filter": cam_filter(v), "group": "night1",
             "day_obs": 20250101, "exposure_time": exposure_time(v), "timespan": visit_span(v)}
            for v in range(N_VISITS)
        ],
    )  # fmt: skip
    # A second instrument, with visit and detector numbers that overlap the first one's.
    instrument = reg.fetch_dimension_records("instrument")[0].to_dict()
    reg.insert_dimension_records("instrument", [{**instrument, "name": "Cam2"}])
    reg.insert_dimension_records(
        "physical_filter",
        [{"instrument": "Cam2", "name": "Cam2-r", "band": "r"}, {"instrument": "Cam2", "name": "Cam2-z", "band": "z"}],
    )
    reg.insert_dimension_records(
        "day_obs",
        [{"instrument": "Cam2", "id": 20250102, "timespan": ("2025-01-02T12:00:00", "2025-01-03T12:00:00")}],
    )
    reg.insert_dimension_records(
        "detector", [{"instrument": "Cam2", "id": i, "full_name": f"C2-{i}", "purpose": "SCIENCE"} for i in range(4)]
    )
    reg.insert_dimension_records(
        "visit",
        [
            {"instrument": "Cam2", "id": v, "name": f"c2v{v}", "physical_filter": "Cam2-r" if v < 5 else "Cam2-z",
             "day_obs": 20250102, "exposure_time": 100.0, "timespan": visit_span(v, day=1)}
            for v in range(10)
        ],
    )  # fmt: skip
    vd = ["instrument", "visit", "detector"]
    butler.register_dataset_type("calexp", vd, "StructuredDataDict")
    butler.register_dataset_type("src", vd, "StructuredDataDict")
    butler.register_dataset_type("summary", ["instrument", "visit"], "StructuredDataDict")
    butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)

    def vds(instrument: str, visits: Iterable[int], detectors: Iterable[int]) -> list[tuple[Any, dict[str, Any]]]:
        return [({"v": v}, {"instrument": instrument, "visit": v, "detector": d}) for v in visits for d in detectors]

    v1 = butler.put_many(vds("Cam", range(30), range(10)), "calexp", run="proc/v1")
    v2 = butler.put_many(vds("Cam", range(10), range(10)), "calexp", run="proc/v2")
    butler.put_many(vds("Cam", range(15), range(10)), "src", run="proc/v1")
    butler.put_many([({}, {"instrument": "Cam", "visit": v}) for v in range(30)], "summary", run="proc/v1")
    butler.put_many(vds("Cam2", range(10), range(4)), "calexp", run="cam2/run")
    butler.collections.set_chain("proc", ["proc/v2", "proc/v1"])
    butler.collections.register("best", "TAGGED")
    butler.collections.associate("best", [r for r in v1 if r.data_id["visit"] == 5])
    bias = [({"b": d}, {"instrument": "Cam", "detector": d}) for d in range(10)]
    bias1 = butler.put_many(bias, "bias", run="calib/run1")
    bias2 = butler.put_many(bias, "bias", run="calib/run2")
    butler.collections.register("calib", "CALIBRATION")
    butler.collections.certify("calib", bias1, ("2025-01-01T00:00:00", "2025-01-01T12:30:00"))
    butler.collections.certify("calib", bias2, ("2025-01-01T12:30:00", "2025-01-03T00:00:00"))
    butler.collections.set_chain("everything", ["best", "proc", "calib", "cam2/run"])
    return Sky(butler, v1, v2, bias1, bias2)


def keys(results: Iterable[DataCoordinate], *names: str) -> set[Any]:
    """The values of ``names`` in each data ID: tuples, or bare values for one name."""
    rows = [tuple(dict(coord)[n] for n in names) for coord in results]
    return {row[0] for row in rows} if len(names) == 1 else set(rows)


def found(results: Iterable[DatasetRef]) -> list[tuple[str, Any, Any, str]]:
    """(type, visit, detector, run) of each ref, in the order returned."""
    out = []
    for ref in results:
        values = dict(ref.data_id)
        out.append((ref.dataset_type.name, values.get("visit"), values.get("detector"), ref.run))
    return out
