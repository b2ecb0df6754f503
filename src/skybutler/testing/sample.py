"""A small sample instrument for demos, tests and benchmarks (no pytest needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skybutler.dimensions import DimensionUniverse

if TYPE_CHECKING:
    from skybutler.butler import Butler

__all__ = ["populate_sample"]


def populate_sample(butler: Butler, *, n_visits: int = 20, n_detectors: int = 10) -> None:
    """Insert the sample instrument ``Cam``: two filters, one day_obs, detectors and visits."""
    insert = butler.insert_dimension_records  # the interface's, so a remote butler can be populated too
    insert("instrument", [_instrument()])
    insert("band", [{"name": "r"}, {"name": "g"}])
    insert(
        "physical_filter",
        [
            {"instrument": "Cam", "name": "Cam-r", "band": "r"},
            {"instrument": "Cam", "name": "Cam-g", "band": "g"},
        ],
    )
    insert(
        "day_obs",
        [{"instrument": "Cam", "id": 20250101, "timespan": ("2025-01-01T12:00:00", "2025-01-02T12:00:00")}],
    )
    insert("detector", [{"instrument": "Cam", "id": i, "full_name": f"S{i:02d}"} for i in range(n_detectors)])
    insert("visit", [_visit(v) for v in range(n_visits)])


def _instrument() -> dict[str, Any]:
    element = DimensionUniverse.default()["instrument"]
    record: dict[str, Any] = {"name": "Cam"}
    for field in element.metadata:
        if not field.nullable:
            record[field.name] = {"int": 100, "string": "Cam", "float": 0.0, "bool": False}.get(field.type)
    if "detector_max" in element.field_index:
        record["detector_max"] = 100
    if "visit_max" in element.field_index:
        record["visit_max"] = 1_000_000
    return record


def _visit(v: int) -> dict[str, Any]:
    element = DimensionUniverse.default()["visit"]
    record: dict[str, Any] = {
        "instrument": "Cam",
        "id": v,
        "physical_filter": "Cam-r" if v % 2 else "Cam-g",
        "day_obs": 20250101,
    }
    for key in element.alternate_keys:
        record[key.name] = f"v{v}"
    for field in element.metadata:
        if not field.nullable:
            record[field.name] = {"int": 0, "string": "", "float": 0.0, "bool": False}[field.type]
    for implied in element.implies:
        if implied not in record:
            raise AssertionError(f"populate_sample does not know how to fill visit.{implied}")
    if element.has_timespan:
        start = 1_735_732_800 + v * 60  # 2025-01-01T12:00 UTC + one minute per visit, in seconds
        record["timespan"] = (start * 10**9 + 37 * 10**9, (start + 30) * 10**9 + 37 * 10**9)
    return record
