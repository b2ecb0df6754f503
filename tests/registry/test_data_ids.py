"""``Registry.expand_data_id``: implied values, records, alternate keys, explanations and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from skybutler.dimensions import DataCoordinate
from skybutler.errors import DataIdError
from skybutler.registry import ExplainedDataId, Registry
from skybutler.testing.spatial import square

VisitFactory = Callable[..., dict[str, Any]]


def test_implied_values_follow_visit_to_filter_to_band_and_day_obs(sample: Registry) -> None:
    data_id = sample.expand_data_id(instrument="Cam", visit=3)
    assert isinstance(data_id, DataCoordinate)
    assert data_id.is_full
    assert data_id.has_records
    assert data_id.required == {"instrument": "Cam", "visit": 3}
    assert dict(data_id) == {
        "instrument": "Cam",
        "visit": 3,
        "physical_filter": "Cam-r",
        "band": "r",
        "day_obs": 20250101,
    }
    assert data_id["band"] == "r"
    assert sample.expand_data_id(instrument="Cam", visit=2)["band"] == "g"


def test_expanded_data_id_carries_every_record(sample: Registry) -> None:
    data_id = sample.expand_data_id({"instrument": "Cam"}, visit=3)
    records = data_id.records
    assert set(records) == {"instrument", "band", "physical_filter", "day_obs", "visit"}
    visit = records["visit"]
    assert visit is not None
    assert (visit.id, visit.name, visit.exposure_time) == (3, "v3", 30.0)
    day_obs = records["day_obs"]
    assert day_obs is not None
    assert day_obs.timespan is not None
    assert visit.timespan is not None
    assert day_obs.timespan.contains(visit.timespan.begin)
    instrument = records["instrument"]
    assert instrument is not None
    assert instrument.detector_max == 100
    band = records["band"]
    assert band is not None
    assert band.name == "r"


def test_expanded_data_id_equals_the_minimal_one(sample: Registry) -> None:
    data_id = sample.expand_data_id(instrument="Cam", visit=3)
    assert data_id == {"instrument": "Cam", "visit": 3, "physical_filter": "Cam-r", "band": "r", "day_obs": 20250101}
    minimal = DataCoordinate.from_required(data_id.group, ("Cam", 3))
    assert data_id == minimal
    assert hash(data_id) == hash(minimal)
    again = sample.expand_data_id(minimal)
    assert again.has_records
    assert dict(again) == dict(data_id)


def test_values_are_coerced(sample: Registry) -> None:
    assert sample.expand_data_id(instrument="Cam", visit="3")["visit"] == 3


def test_records_of_elements_without_keys_are_attached_when_present(sample: Registry) -> None:
    data_id = sample.expand_data_id(instrument="Cam", visit=0, detector=1)
    assert "visit_detector_region" in data_id.records
    assert data_id.records["visit_detector_region"] is None
    sample.insert_dimension_records(
        "visit_detector_region", [{"instrument": "Cam", "visit": 0, "detector": 1, "region": square(1, 1, 0.1)}]
    )
    region = sample.expand_data_id(instrument="Cam", visit=0, detector=1).records["visit_detector_region"]
    assert region is not None
    assert region.region == square(1, 1, 0.1)


def test_dimensions_argument_chooses_the_group(sample: Registry) -> None:
    group = sample.universe.group(["visit", "detector"])
    data_id = sample.expand_data_id({"instrument": "Cam", "visit": 1, "detector": 2}, dimensions=group)
    assert data_id.group is group
    same = sample.expand_data_id({"instrument": "Cam", "visit": 1, "detector": 2}, dimensions=["visit", "detector"])
    assert same.group is group
    assert same == data_id


def test_a_missing_required_key_is_a_data_id_error(sample: Registry) -> None:
    with pytest.raises(DataIdError, match="lacks \\['instrument'\\]"):
        sample.expand_data_id(visit=1)
    with pytest.raises(DataIdError, match="lacks \\['detector'\\]"):
        sample.expand_data_id({"instrument": "Cam", "visit": 1}, dimensions=["visit", "detector"])


def test_an_unknown_key_is_a_data_id_error_with_a_suggestion(sample: Registry) -> None:
    with pytest.raises(DataIdError, match="did you mean 'visit'"):
        sample.expand_data_id(instrument="Cam", visti=1)


def test_skypix_dimensions_need_no_records(sample: Registry) -> None:
    data_id = sample.expand_data_id(htm7=12345)
    assert dict(data_id) == {"htm7": 12345}
    assert data_id.records == {"htm7": None}


# -- alternate keys ---------------------------------------------------------------------------------------------
def test_detector_full_name_resolves_to_the_detector(sample: Registry) -> None:
    data_id = sample.expand_data_id({"instrument": "Cam", "detector.full_name": "S02"})
    assert dict(data_id) == {"instrument": "Cam", "detector": 2}
    detector = data_id.records["detector"]
    assert detector is not None
    assert detector.full_name == "S02"


def test_visit_name_resolves_to_the_visit_and_its_implied_values(sample: Registry) -> None:
    data_id = sample.expand_data_id({"visit.name": "v5"}, instrument="Cam")
    assert dict(data_id) == {
        "instrument": "Cam",
        "visit": 5,
        "physical_filter": "Cam-r",
        "band": "r",
        "day_obs": 20250101,
    }


def test_an_alternate_key_alone_finds_its_parents_when_unique(sample: Registry) -> None:
    data_id = sample.expand_data_id({"detector.full_name": "S03"})
    assert data_id.required == {"instrument": "Cam", "detector": 3}


def test_an_ambiguous_alternate_key_asks_for_the_parents(sample: Registry) -> None:
    sample.insert_dimension_records("instrument", [{"name": "Other"}])
    sample.insert_dimension_records("detector", [{"instrument": "Other", "id": 7, "full_name": "S03"}])
    with pytest.raises(DataIdError, match="more than one detector") as info:
        sample.expand_data_id({"detector.full_name": "S03"})
    assert "instrument" in str(info.value)
    assert sample.expand_data_id({"instrument": "Other", "detector.full_name": "S03"})["detector"] == 7


def test_an_unknown_alternate_key_is_a_data_id_error_listing_known_values(sample: Registry) -> None:
    with pytest.raises(DataIdError, match="No detector record has") as info:
        sample.expand_data_id({"instrument": "Cam", "detector.full_name": "S99"})
    assert "S99" in str(info.value)
    assert "Known detector values" in str(info.value)


def test_an_alternate_key_contradicting_the_primary_key_is_refused(sample: Registry) -> None:
    with pytest.raises(DataIdError, match="detector=1"):
        sample.expand_data_id({"instrument": "Cam", "detector": 1, "detector.full_name": "S02"})
    assert sample.expand_data_id({"instrument": "Cam", "detector": 2, "detector.full_name": "S02"})["detector"] == 2


def test_an_unknown_alternate_key_name_is_refused(sample: Registry) -> None:
    with pytest.raises(DataIdError, match="not a key of 'detector'"):
        sample.expand_data_id({"instrument": "Cam", "detector.nickname": "x"})


# -- explain ----------------------------------------------------------------------------------------------------
def test_explain_lists_each_step(sample: Registry) -> None:
    explained = sample.expand_data_id({"instrument": "Cam", "visit.name": "v3"}, explain=True)
    assert isinstance(explained, ExplainedDataId)
    assert explained.data_id == sample.expand_data_id(instrument="Cam", visit=3)
    assert dict(explained.data_id) == dict(sample.expand_data_id(instrument="Cam", visit=3))
    assert explained.given == "{instrument: 'Cam', visit.name: 'v3'}"
    steps = explained.steps
    assert steps[0].startswith("visit=3 from the visit record matching")
    assert "physical_filter='Cam-r' from the visit record {'instrument': 'Cam', 'visit': 3}" in steps
    assert "day_obs=20250101 from the visit record {'instrument': 'Cam', 'visit': 3}" in steps
    assert "band='r' from the physical_filter record {'instrument': 'Cam', 'physical_filter': 'Cam-r'}" in steps
    text = str(explained)
    assert text.splitlines()[0] == "given: {instrument: 'Cam', visit.name: 'v3'}"
    assert text.splitlines()[-1].startswith("result: {instrument: 'Cam', visit: 3")
    assert all(f"  + {s}" in text for s in steps)


def test_explain_says_nothing_was_added_when_nothing_was(sample: Registry) -> None:
    explained = sample.expand_data_id(instrument="Cam", detector=1, explain=True)
    assert not any("from the" in step for step in explained.steps)


# -- inconsistent or unknown values -----------------------------------------------------------------------------
def test_a_given_implied_value_that_agrees_is_accepted(sample: Registry) -> None:
    data_id = sample.expand_data_id(instrument="Cam", visit=3, physical_filter="Cam-r", band="r")
    assert data_id["day_obs"] == 20250101


def test_a_conflicting_implied_value_is_a_data_id_error(sample: Registry) -> None:
    with pytest.raises(DataIdError) as info:
        sample.expand_data_id(instrument="Cam", visit=3, physical_filter="Cam-g")
    message = str(info.value)
    assert "physical_filter='Cam-g'" in message
    assert "'Cam-r'" in message


def test_a_conflict_two_steps_away_is_found(sample: Registry) -> None:
    with pytest.raises(DataIdError, match="band='g'"):
        sample.expand_data_id(instrument="Cam", visit=3, band="g")


def test_a_missing_record_is_a_data_id_error_listing_known_values(sample: Registry) -> None:
    with pytest.raises(DataIdError) as info:
        sample.expand_data_id(instrument="Cam", visit=99)
    message = str(info.value)
    assert "No visit record for {'instrument': 'Cam', 'visit': 99}" in message
    assert "Known visit values for {'instrument': 'Cam'}: 0, 1, 2, 3, 4, 5." in message


def test_the_list_of_known_values_is_short(sample: Registry, visit_record: VisitFactory) -> None:
    sample.insert_dimension_records("visit", [visit_record(v) for v in range(6, 30)])
    with pytest.raises(DataIdError, match=r"0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and more\."):
        sample.expand_data_id(instrument="Cam", visit=99)


def test_a_missing_parent_record_is_reported_first(sample: Registry) -> None:
    with pytest.raises(DataIdError, match="No instrument record for \\{'instrument': 'Nope'\\}") as info:
        sample.expand_data_id(instrument="Nope", detector=1)
    assert "'Cam'" in str(info.value)


def test_no_records_at_all_says_so(registry: Registry) -> None:
    with pytest.raises(DataIdError, match="There are no instrument records; insert them first"):
        registry.expand_data_id(instrument="Cam")
