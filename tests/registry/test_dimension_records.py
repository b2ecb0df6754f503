"""Dimension records: bulk insert, conflicts, foreign keys, sync, fetch, timespans and alternate keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from skybutler.dimensions import DimensionRecord, Timespan, to_tai_ns
from skybutler.errors import ConflictError, DataIdError, SkyButlerError
from skybutler.registry import Registry
from skybutler.testing.spatial import square

VisitFactory = Callable[..., dict[str, Any]]


def _names(records: list[DimensionRecord], field: str = "name") -> list[Any]:
    return sorted(r.get(field) for r in records)


# -- insert ---------------------------------------------------------------------------------------------------
def test_bulk_insert_returns_the_number_inserted(registry: Registry) -> None:
    assert registry.insert_dimension_records("instrument", [{"name": "Cam"}]) == 1
    assert registry.insert_dimension_records("band", [{"name": b} for b in "ugrizy"]) == 6
    assert _names(registry.fetch_dimension_records("band")) == sorted("ugrizy")
    detectors = [{"instrument": "Cam", "id": i, "full_name": f"S{i:03d}"} for i in range(250)]
    assert registry.insert_dimension_records("detector", detectors) == 250
    assert len(registry.fetch_dimension_records("detector")) == 250


def test_insert_nothing_is_zero(registry: Registry) -> None:
    assert registry.insert_dimension_records("band", []) == 0
    assert registry.insert_dimension_records("band", [], skip_existing=True) == 0


def test_records_come_back_typed_with_all_fields(sample: Registry) -> None:
    (record,) = sample.fetch_dimension_records("visit", instrument="Cam", visit=3)
    assert isinstance(record, DimensionRecord)
    assert record.element.name == "visit"
    assert record.key == ("Cam", 3)
    assert (record.instrument, record.id, record.name) == ("Cam", 3, "v3")
    assert (record.physical_filter, record.day_obs) == ("Cam-r", 20250101)
    assert record.exposure_time == 30.0
    assert record.region is None
    assert record.to_dict()["timespan"] == record.timespan


def test_records_are_accepted_as_well_as_mappings(sample: Registry) -> None:
    bands = sample.fetch_dimension_records("band")
    assert sample.insert_dimension_records("band", bands, skip_existing=True) == 0
    with pytest.raises(ConflictError):
        sample.insert_dimension_records("band", bands[:1])
    (cam_r,) = sample.fetch_dimension_records("physical_filter", physical_filter="Cam-r")
    sample.insert_dimension_records("instrument", [{"name": "Other"}])
    copy = DimensionRecord.from_dict(cam_r.element, {**cam_r.to_dict(), "instrument": "Other"})
    assert sample.insert_dimension_records("physical_filter", [copy]) == 1
    assert len(sample.fetch_dimension_records("physical_filter", band="r")) == 2


def test_a_record_of_another_element_is_refused(sample: Registry) -> None:
    band = sample.fetch_dimension_records("band")[0]
    with pytest.raises(DataIdError, match="'band' record cannot be inserted as 'physical_filter'"):
        sample.insert_dimension_records("physical_filter", [band])


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({"instrument": "Cam"}, "needs a value for 'id'"),
        ({"instrument": "Cam", "id": 1, "full_name": "S1", "colour": "red"}, "Unknown field"),
        ({"instrument": "Cam", "id": "one", "full_name": "S1"}, "must be an integer"),
        ({"instrument": "Cam", "id": 1, "full_name": "S" * 33}, "at most 32"),
    ],
)
def test_invalid_records_are_data_id_errors(sample: Registry, record: dict[str, Any], match: str) -> None:
    with pytest.raises(DataIdError, match=match):
        sample.insert_dimension_records("detector", [record])


def test_values_are_coerced_to_the_field_types(sample: Registry) -> None:
    sample.insert_dimension_records("detector", [{"instrument": "Cam", "id": "17", "full_name": "S17"}])
    (record,) = sample.fetch_dimension_records("detector", instrument="Cam", detector=17)
    assert record.id == 17


@pytest.mark.parametrize("element", ["nonsense", "htm7"])
def test_elements_without_records_are_refused(registry: Registry, element: str) -> None:
    with pytest.raises(DataIdError):
        registry.insert_dimension_records(element, [{"id": 1}])


def test_insert_duplicate_is_a_conflict(sample: Registry) -> None:
    with pytest.raises(ConflictError, match="same key already exists") as info:
        sample.insert_dimension_records("band", [{"name": "r"}])
    assert "skip_existing" in str(info.value)


def test_duplicate_in_one_batch_inserts_nothing(registry: Registry) -> None:
    with pytest.raises(ConflictError):
        registry.insert_dimension_records("band", [{"name": "r"}, {"name": "g"}, {"name": "r"}])
    assert registry.fetch_dimension_records("band") == []


def test_skip_existing_counts_only_new_rows_and_keeps_old_values(sample: Registry) -> None:
    new = sample.insert_dimension_records(
        "detector",
        [
            {"instrument": "Cam", "id": 0, "full_name": "S00"},
            {"instrument": "Cam", "id": 10, "full_name": "S10"},
            {"instrument": "Cam", "id": 11, "full_name": "S11"},
        ],
        skip_existing=True,
    )
    assert new == 2
    assert _names(sample.fetch_dimension_records("detector"), "id") == [0, 1, 2, 3, 10, 11]
    # A skipped record is not compared: the stored one stays as it was.
    assert (
        sample.insert_dimension_records("visit", [{**_visit_row(sample, 1), "exposure_time": 99.0}], skip_existing=True)
        == 0
    )
    (visit,) = sample.fetch_dimension_records("visit", instrument="Cam", visit=1)
    assert visit.exposure_time == 30.0


def _visit_row(registry: Registry, visit: int) -> dict[str, Any]:
    (record,) = registry.fetch_dimension_records("visit", instrument="Cam", visit=visit)
    return record.to_dict()


def test_skip_existing_still_refuses_missing_parents(sample: Registry, visit_record: VisitFactory) -> None:
    with pytest.raises(DataIdError, match="Cam-x"):
        sample.insert_dimension_records("visit", [visit_record(100, "Cam-x")], skip_existing=True)


def test_unknown_implied_record_is_a_data_id_error_naming_it(sample: Registry, visit_record: VisitFactory) -> None:
    with pytest.raises(DataIdError) as info:
        sample.insert_dimension_records("visit", [visit_record(100, "Cam-x")])
    message = str(info.value)
    assert "physical_filter" in message
    assert "Cam-x" in message
    assert "Insert those first" in message
    assert "Cam-r" not in message  # only the missing parent is named


def test_unknown_required_parent_is_a_data_id_error_naming_it(sample: Registry) -> None:
    with pytest.raises(DataIdError, match=r"instrument \{'instrument': 'Nope'\}"):
        sample.insert_dimension_records("detector", [{"instrument": "Nope", "id": 0, "full_name": "S00"}])


def test_bulk_insert_with_one_bad_record_inserts_nothing(sample: Registry, visit_record: VisitFactory) -> None:
    before = sample.fetch_dimension_records("visit")
    batch = [visit_record(100), visit_record(101, "Cam-x"), visit_record(102, "Cam-g")]
    with pytest.raises(DataIdError, match="Cam-x"):
        sample.insert_dimension_records("visit", batch)
    assert sample.fetch_dimension_records("visit") == before
    # The good records go in once the bad one is fixed.
    batch[1] = visit_record(101, "Cam-g")
    assert sample.insert_dimension_records("visit", batch) == 3


def test_a_record_refusing_validation_mid_batch_inserts_nothing(sample: Registry) -> None:
    batch = [{"name": "i"}, {"name": "z", "colour": "blue"}]
    with pytest.raises(DataIdError):
        sample.insert_dimension_records("band", batch)
    assert _names(sample.fetch_dimension_records("band")) == ["g", "r"]


def test_insert_into_element_without_keys(sample: Registry) -> None:
    rows = [{"instrument": "Cam", "visit": 0, "detector": d, "region": square(10, d, 0.1)} for d in range(4)]
    assert sample.insert_dimension_records("visit_detector_region", rows) == 4
    assert sample.insert_dimension_records("visit_detector_region", rows[:2], skip_existing=True) == 0
    with pytest.raises(ConflictError):
        sample.insert_dimension_records("visit_detector_region", rows[3:])
    with pytest.raises(DataIdError, match="visit"):
        sample.insert_dimension_records("visit_detector_region", [{"instrument": "Cam", "visit": 99, "detector": 0}])
    found = sample.fetch_dimension_records("visit_detector_region", detector=2)
    assert [r.region.encode() for r in found] == [square(10, 2, 0.1).encode()]
    assert found[0].key == ("Cam", 0, 2)


# -- alternate keys ---------------------------------------------------------------------------------------------
def test_alternate_keys_are_unique_within_their_parents(sample: Registry) -> None:
    with pytest.raises(ConflictError):
        sample.insert_dimension_records("detector", [{"instrument": "Cam", "id": 50, "full_name": "S01"}])
    assert len(sample.fetch_dimension_records("detector")) == 4
    # The same full name under another instrument is fine.
    sample.insert_dimension_records("instrument", [{"name": "Other"}])
    assert sample.insert_dimension_records("detector", [{"instrument": "Other", "id": 1, "full_name": "S01"}]) == 1
    assert len(sample.fetch_dimension_records("detector", full_name="S01")) == 2


def test_alternate_key_clash_under_skip_existing_is_still_a_conflict(sample: Registry) -> None:
    with pytest.raises(ConflictError):
        sample.insert_dimension_records(
            "detector", [{"instrument": "Cam", "id": 50, "full_name": "S01"}], skip_existing=True
        )


# -- sync -------------------------------------------------------------------------------------------------------
def test_sync_inserts_then_verifies(sample: Registry, visit_record: VisitFactory) -> None:
    record = visit_record(100, exposure_time=15.0)
    assert sample.sync_dimension_records("visit", record) is True
    assert sample.sync_dimension_records("visit", record) is False
    (stored,) = sample.fetch_dimension_records("visit", instrument="Cam", visit=100)
    assert sample.sync_dimension_records("visit", stored) is False


def test_sync_different_record_is_a_conflict_listing_the_differences(
    sample: Registry, visit_record: VisitFactory
) -> None:
    before = _visit_row(sample, 1)
    changed = visit_record(1, "Cam-g", exposure_time=45.0)
    with pytest.raises(ConflictError) as info:
        sample.sync_dimension_records("visit", changed)
    message = str(info.value)
    assert "'physical_filter': ('Cam-r', 'Cam-g')" in message
    assert "'exposure_time': (30.0, 45.0)" in message
    assert "day_obs" not in message.partition("(stored, given)")[2]
    assert "update=True" in message
    assert _visit_row(sample, 1) == before


def test_sync_with_update_replaces_the_record(sample: Registry, visit_record: VisitFactory) -> None:
    changed = visit_record(1, "Cam-g", exposure_time=45.0)
    assert sample.sync_dimension_records("visit", changed, update=True) is False
    (stored,) = sample.fetch_dimension_records("visit", instrument="Cam", visit=1)
    assert (stored.physical_filter, stored.exposure_time) == ("Cam-g", 45.0)
    assert sample.sync_dimension_records("visit", changed) is False
    assert sample.expand_data_id(instrument="Cam", visit=1)["band"] == "g"


def test_sync_of_a_record_with_a_missing_parent_is_a_data_id_error(
    sample: Registry, visit_record: VisitFactory
) -> None:
    with pytest.raises(DataIdError, match="Cam-x"):
        sample.sync_dimension_records("visit", visit_record(100, "Cam-x"))
    with pytest.raises(DataIdError, match="Cam-x"):
        sample.sync_dimension_records("visit", visit_record(1, "Cam-x"), update=True)
    assert len(sample.fetch_dimension_records("visit")) == 6
    assert _visit_row(sample, 1)["physical_filter"] == "Cam-r"


def test_sync_of_a_record_whose_alternate_key_is_taken_is_a_conflict(sample: Registry) -> None:
    with pytest.raises(ConflictError):
        sample.sync_dimension_records("detector", {"instrument": "Cam", "id": 50, "full_name": "S01"})
    with pytest.raises(ConflictError):
        sample.sync_dimension_records("detector", {"instrument": "Cam", "id": 2, "full_name": "S01"}, update=True)
    assert [(r.id, r.full_name) for r in sample.fetch_dimension_records("detector", full_name="S01")] == [(1, "S01")]


def test_sync_validates_like_insert(sample: Registry) -> None:
    with pytest.raises(DataIdError, match="Unknown field"):
        sample.sync_dimension_records("band", {"name": "r", "colour": "red"})


# -- fetch ------------------------------------------------------------------------------------------------------
def test_fetch_with_where(sample: Registry) -> None:
    assert _names(sample.fetch_dimension_records("visit", physical_filter="Cam-r"), "id") == [1, 3, 5]
    assert _names(sample.fetch_dimension_records("visit", {"instrument": "Cam", "physical_filter": "Cam-g"}), "id") == [
        0,
        2,
        4,
    ]
    assert _names(sample.fetch_dimension_records("visit", {"instrument": "Cam"}, visit=2), "id") == [2]
    assert _names(sample.fetch_dimension_records("detector", full_name="S02"), "id") == [2]
    assert sample.fetch_dimension_records("visit", instrument="Other") == []
    assert len(sample.fetch_dimension_records("visit")) == 6


def test_fetch_returns_records_in_key_order(sample: Registry, visit_record: VisitFactory) -> None:
    sample.insert_dimension_records("visit", [visit_record(v) for v in (50, 7, 30)])
    assert [r.id for r in sample.fetch_dimension_records("visit")] == [0, 1, 2, 3, 4, 5, 7, 30, 50]


def test_fetch_by_an_unknown_field_is_a_data_id_error(sample: Registry) -> None:
    with pytest.raises(DataIdError, match="no field 'colour'"):
        sample.fetch_dimension_records("band", colour="red")


def test_fetch_coerces_values_like_data_ids(sample: Registry) -> None:
    (record,) = sample.fetch_dimension_records("visit", instrument="Cam", visit="3")
    assert record.id == 3
    with pytest.raises(DataIdError):
        sample.fetch_dimension_records("visit", visit="three")


def test_fetch_with_a_value_of_the_wrong_type_raises_our_error(sample: Registry) -> None:
    with pytest.raises(SkyButlerError):
        sample.fetch_dimension_records("band", name=3)


# -- timespans and regions --------------------------------------------------------------------------------------
def test_timespans_round_trip(sample: Registry) -> None:
    (day,) = sample.fetch_dimension_records("day_obs")
    assert day.timespan == Timespan(to_tai_ns("2025-01-01T12:00:00"), to_tai_ns("2025-01-02T12:00:00"))
    assert day.timespan.contains("2025-01-02T00:00:00")
    sample.insert_dimension_records(
        "day_obs",
        [
            {"instrument": "Cam", "id": 1, "timespan": Timespan(None, 5)},
            {"instrument": "Cam", "id": 2, "timespan": Timespan(-5, None)},
            {"instrument": "Cam", "id": 3, "timespan": Timespan(None, None)},
            {"instrument": "Cam", "id": 4},
            {"instrument": "Cam", "id": 5, "timespan": {"begin": "2030-06-01", "end": "2030-06-02 TAI"}},
            {"instrument": "Cam", "id": 6, "timespan": (0, 0)},
        ],
    )
    got = {r.id: r.timespan for r in sample.fetch_dimension_records("day_obs")}
    assert got[1] == Timespan(None, 5)
    assert got[2] == Timespan(-5, None)
    assert got[3] == Timespan(None, None)
    assert got[4] is None
    assert got[5] == Timespan(to_tai_ns("2030-06-01"), to_tai_ns("2030-06-02T00:00:00 TAI"))
    assert got[6] == Timespan(0, 0)


def test_timespans_keep_nanoseconds(sample: Registry, visit_record: VisitFactory) -> None:
    span = Timespan(1_700_000_000_123_456_789, 1_700_000_030_987_654_321)
    sample.insert_dimension_records("visit", [visit_record(100, timespan=span)])
    (record,) = sample.fetch_dimension_records("visit", instrument="Cam", visit=100)
    assert record.timespan == span


def test_reversed_timespan_is_refused(sample: Registry, visit_record: VisitFactory) -> None:
    with pytest.raises(DataIdError, match="before its begin"):
        sample.insert_dimension_records("visit", [visit_record(100, timespan=(10, 5))])


def test_regions_round_trip_as_sphgeom_objects(sample: Registry, visit_record: VisitFactory) -> None:
    region = square(150, -30, 0.2)
    sample.insert_dimension_records("visit", [visit_record(100, region=region.encode())])
    (record,) = sample.fetch_dimension_records("visit", instrument="Cam", visit=100)
    assert record.region == region
    assert sample.sync_dimension_records("visit", visit_record(100, region=region)) is False
