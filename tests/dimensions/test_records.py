"""DimensionRecord: validation in from_dict, immutability, to_dict, equality and pickling."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skybutler.dimensions import DimensionElement, DimensionRecord, DimensionUniverse, Timespan, to_tai_ns
from skybutler.errors import DataIdError
from skybutler.testing.spatial import square


@pytest.fixture
def universe() -> DimensionUniverse:
    """The small universe of ``tests/mini_universe.yaml``."""
    return DimensionUniverse.from_yaml((Path(__file__).parents[1] / "mini_universe.yaml").read_text())


@pytest.fixture
def visit(universe: DimensionUniverse) -> DimensionElement:
    return universe["visit"]


@pytest.fixture
def visit_data() -> dict[str, Any]:
    return {
        "instrument": "Cam",
        "id": 1228,
        "name": "v1228",
        "physical_filter": "Cam-R",
        "day_obs": 20250101,
        "exposure_time": 30.0,
        "timespan": Timespan.from_times("2025-01-01T10:00:00", "2025-01-01T10:00:30"),
        "region": square(150.0, 2.0, 0.1),
    }


@pytest.fixture
def record(visit: DimensionElement, visit_data: dict[str, Any]) -> DimensionRecord:
    return DimensionRecord.from_dict(visit, visit_data)


def test_fields_read_as_attributes(record: DimensionRecord) -> None:
    assert record.instrument == "Cam"
    assert record.id == 1228
    assert record.name == "v1228"
    assert record.physical_filter == "Cam-R"
    assert record.day_obs == 20250101
    assert record.exposure_time == 30.0
    assert record.region.encode() == square(150.0, 2.0, 0.1).encode()
    assert record.timespan.begin == to_tai_ns("2025-01-01T10:00:00")
    assert record.key == ("Cam", 1228)
    assert record.get("exposure_time") == 30.0
    assert record.get("nosuch", "default") == "default"


def test_to_dict_gives_every_field_and_round_trips(
    visit: DimensionElement, record: DimensionRecord, visit_data: dict[str, Any]
) -> None:
    assert record.to_dict() == visit_data
    assert list(record.to_dict()) == list(visit.record_fields())
    assert record.values == tuple(visit_data[name] for name in visit.record_fields())
    assert DimensionRecord.from_dict(visit, record.to_dict()) == record


def test_values_are_coerced_to_field_types(visit: DimensionElement, visit_data: dict[str, Any]) -> None:
    visit_data.update(
        id=np.int64(1228), day_obs="20250101", exposure_time=30, region=bytearray(square(1, 2, 0.5).encode())
    )
    visit_data["timespan"] = ("2025-01-01T10:00:00", "2025-01-01T10:00:30")
    coerced = DimensionRecord.from_dict(visit, visit_data)
    assert type(coerced.id) is int
    assert coerced.day_obs == 20250101
    assert type(coerced.exposure_time) is float
    assert type(coerced.region).__name__ == "ConvexPolygon"  # decoded from its bytes
    assert coerced.timespan == Timespan.from_times("2025-01-01T10:00:00", "2025-01-01T10:00:30")


def test_timespan_from_a_mapping(visit: DimensionElement, visit_data: dict[str, Any]) -> None:
    visit_data["timespan"] = {"begin": "2025-01-01T10:00:00", "end": None}
    assert DimensionRecord.from_dict(visit, visit_data).timespan == Timespan(to_tai_ns("2025-01-01T10:00:00"), None)


def test_nullable_fields_may_be_left_out(visit: DimensionElement) -> None:
    record = DimensionRecord.from_dict(
        visit, {"instrument": "Cam", "id": 1, "name": "v1", "physical_filter": "F", "day_obs": 20250101}
    )
    assert record.exposure_time is None
    assert record.timespan is None
    assert record.region is None


def test_unknown_field_is_refused_listing_the_fields(visit: DimensionElement, visit_data: dict[str, Any]) -> None:
    visit_data["colour"] = "red"
    with pytest.raises(DataIdError, match=r"Unknown field\(s\) \['colour'\] for a 'visit' record") as info:
        DimensionRecord.from_dict(visit, visit_data)
    assert "'exposure_time'" in str(info.value)


@pytest.mark.parametrize("missing", ["instrument", "id", "name", "physical_filter"])
def test_missing_required_field_is_refused(visit: DimensionElement, visit_data: dict[str, Any], missing: str) -> None:
    del visit_data[missing]
    with pytest.raises(DataIdError, match=f"needs a value for '{missing}'"):
        DimensionRecord.from_dict(visit, visit_data)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("id", "v1228", r"visit\.id must be an integer"),
        ("id", True, r"visit\.id must be an integer, not the boolean"),
        ("id", 12.5, r"visit\.id must be an integer"),
        ("name", 1228, r"visit\.name must be a string"),
        ("exposure_time", "long", r"visit\.exposure_time must be a number"),
        ("instrument", "C" * 33, r"visit\.instrument is 33 characters long; at most 32"),
        ("timespan", "2025-01-01", r"visit\.timespan must be a Timespan"),
        ("region", 42, r"visit\.region must be a sphgeom region"),
        ("region", b"\x01\x02", r"visit\.region is not an encoded sphgeom region"),
    ],
)
def test_wrong_types_are_refused(
    visit: DimensionElement, visit_data: dict[str, Any], field: str, value: object, match: str
) -> None:

    visit_data[field] = value
    with pytest.raises(DataIdError, match=match):
        DimensionRecord.from_dict(visit, visit_data)


def test_records_are_immutable(record: DimensionRecord) -> None:
    with pytest.raises(AttributeError, match="immutable"):
        record.id = 5
    with pytest.raises(AttributeError, match="immutable"):
        record.brand_new = 5
    assert record.id == 1228


def test_unknown_attribute_names_the_fields(record: DimensionRecord) -> None:
    with pytest.raises(AttributeError, match="A 'visit' record has no field 'colour'"):
        _ = record.colour


def test_equality_and_hash(visit: DimensionElement, record: DimensionRecord, visit_data: dict[str, Any]) -> None:
    same = DimensionRecord.from_dict(visit, dict(visit_data))
    assert same == record
    assert hash(same) == hash(record)
    assert len({same, record}) == 1
    visit_data["exposure_time"] = 15.0
    changed = DimensionRecord.from_dict(visit, visit_data)
    assert changed != record
    assert record != record.to_dict()


def test_records_of_different_elements_differ(universe: DimensionUniverse) -> None:
    band = DimensionRecord.from_dict(universe["band"], {"name": "r"})
    instrument = DimensionRecord.from_dict(universe["instrument"], {"name": "r"})
    assert band.values == ("r",)
    assert instrument.values == ("r", None)
    assert band != DimensionRecord(universe["instrument"], ("r",))


def test_keyless_element_record_is_identified_by_its_parents(universe: DimensionUniverse) -> None:
    element = universe["visit_detector_region"]
    record = DimensionRecord.from_dict(
        element, {"instrument": "Cam", "visit": 1228, "detector": "12", "region": square(1, 2, 0.5).encode().hex()}
    )
    assert record.key == ("Cam", 1228, 12)
    # Regions are sphgeom objects; text is read as the hex of their encoding, as exports write them.
    assert record.to_dict()["region"].encode() == square(1, 2, 0.5).encode()


def test_region_text_that_is_not_hex_is_refused(universe: DimensionUniverse) -> None:
    element = universe["visit_detector_region"]
    with pytest.raises(DataIdError, match="region text must be a hex-encoded region"):
        DimensionRecord.from_dict(element, {"instrument": "Cam", "visit": 1, "detector": 1, "region": "POLYGON"})


def test_pickle_round_trip(record: DimensionRecord) -> None:
    copy = pickle.loads(pickle.dumps(record))
    assert copy == record
    assert copy.to_dict() == record.to_dict()
    assert copy.element.name == "visit"


def test_repr_shows_element_and_fields(universe: DimensionUniverse) -> None:
    band = DimensionRecord.from_dict(universe["band"], {"name": "r"})
    assert repr(band) == "band(name='r')"
