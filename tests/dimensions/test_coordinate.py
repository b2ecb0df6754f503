"""DataCoordinate: the minimal, full and expanded states, mapping behaviour, equality, subsets and pickling."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import pytest

from skybutler.dimensions import DataCoordinate, DimensionGroup, DimensionRecord, DimensionUniverse
from skybutler.errors import DataIdError


@pytest.fixture
def universe() -> DimensionUniverse:
    """The small universe of ``tests/mini_universe.yaml``."""
    return DimensionUniverse.from_yaml((Path(__file__).parents[1] / "mini_universe.yaml").read_text())


@pytest.fixture
def group(universe: DimensionUniverse) -> DimensionGroup:
    """(instrument, detector, visit), implying band, physical_filter and day_obs."""
    return universe.group(["visit", "detector"])


def _full_values(group: DimensionGroup) -> tuple[int | str, ...]:
    known: dict[str, int | str] = {
        "instrument": "Cam",
        "detector": 12,
        "visit": 1228,
        "band": "r",
        "physical_filter": "Cam-R",
        "day_obs": 20250101,
    }
    return tuple(known[n] for n in group.names)


@pytest.fixture
def minimal(group: DimensionGroup) -> DataCoordinate:
    return DataCoordinate.from_required(group, ("Cam", 12, 1228))


@pytest.fixture
def full(group: DimensionGroup) -> DataCoordinate:
    return DataCoordinate.from_full(group, _full_values(group))


@pytest.fixture
def records(universe: DimensionUniverse, group: DimensionGroup) -> dict[str, DimensionRecord | None]:
    return {
        "instrument": DimensionRecord.from_dict(universe["instrument"], {"name": "Cam", "detector_max": 100}),
        "band": DimensionRecord.from_dict(universe["band"], {"name": "r"}),
        "physical_filter": DimensionRecord.from_dict(
            universe["physical_filter"], {"instrument": "Cam", "name": "Cam-R", "band": "r"}
        ),
        "detector": DimensionRecord.from_dict(
            universe["detector"], {"instrument": "Cam", "id": 12, "full_name": "1_12"}
        ),
        "day_obs": DimensionRecord.from_dict(universe["day_obs"], {"instrument": "Cam", "id": 20250101}),
        "visit": DimensionRecord.from_dict(
            universe["visit"],
            {"instrument": "Cam", "id": 1228, "name": "v1228", "physical_filter": "Cam-R", "day_obs": 20250101},
        ),
        "visit_detector_region": None,
    }


def test_minimal_state(minimal: DataCoordinate, group: DimensionGroup) -> None:
    assert not minimal.is_full
    assert not minimal.has_records
    assert minimal.required == {"instrument": "Cam", "detector": 12, "visit": 1228}
    assert minimal.required_values == ("Cam", 12, 1228)
    assert dict(minimal) == {"instrument": "Cam", "detector": 12, "visit": 1228}
    assert list(minimal) == list(group.required)
    assert len(minimal) == 3
    assert minimal.group is group
    assert minimal.universe is group.universe


def test_minimal_refuses_implied_lookups_with_a_hint(minimal: DataCoordinate) -> None:
    with pytest.raises(KeyError, match="implied but not known"):
        minimal["band"]
    assert "band" not in minimal
    assert minimal.get("band") is None
    with pytest.raises(DataIdError, match="minimal; expand it"):
        _ = minimal.full_values
    with pytest.raises(DataIdError, match="carries no records"):
        _ = minimal.records


def test_unknown_key_is_a_key_error(full: DataCoordinate) -> None:
    with pytest.raises(KeyError):
        full["htm7"]
    assert "htm7" not in full


def test_full_state_maps_required_and_implied(full: DataCoordinate, group: DimensionGroup) -> None:
    assert full.is_full
    assert not full.has_records
    assert dict(full) == {
        "instrument": "Cam",
        "detector": 12,
        "visit": 1228,
        "band": "r",
        "physical_filter": "Cam-R",
        "day_obs": 20250101,
    }
    assert list(full) == list(group.names)
    assert len(full) == 6
    assert full["physical_filter"] == "Cam-R"
    assert full.full_values == _full_values(group)
    assert full.required == {"instrument": "Cam", "detector": 12, "visit": 1228}


def test_constructors_check_the_number_of_values(group: DimensionGroup) -> None:
    with pytest.raises(DataIdError, match="Expected values for"):
        DataCoordinate.from_required(group, ("Cam", 12))
    with pytest.raises(DataIdError, match="Expected values for"):
        DataCoordinate.from_full(group, ("Cam", 12, 1228))


def test_minimal_equals_full_and_hashes_the_same(minimal: DataCoordinate, full: DataCoordinate) -> None:
    assert minimal == full
    assert hash(minimal) == hash(full)
    assert len({minimal, full}) == 1
    lookup = {minimal: "found"}
    assert lookup[full] == "found"


def test_different_values_or_groups_are_not_equal(
    universe: DimensionUniverse, group: DimensionGroup, minimal: DataCoordinate
) -> None:
    assert minimal != DataCoordinate.from_required(group, ("Cam", 13, 1228))
    detector_only = DataCoordinate.from_required(universe.group(["detector"]), ("Cam", 12))
    assert minimal != detector_only
    assert minimal != 12


def test_compares_with_plain_mappings_by_known_values(minimal: DataCoordinate, full: DataCoordinate) -> None:
    assert minimal == {"instrument": "Cam", "detector": 12, "visit": 1228}
    assert full == dict(full)
    assert full != {"instrument": "Cam", "detector": 12, "visit": 1228}
    assert minimal != {"instrument": "Cam", "detector": 12}


def test_is_an_immutable_mapping(full: DataCoordinate) -> None:
    assert isinstance(full, Mapping)
    with pytest.raises(TypeError):
        full["visit"] = 1  # type: ignore[index]
    assert full["visit"] == 1228


def test_expanded_state_carries_records(full: DataCoordinate, records: dict[str, DimensionRecord | None]) -> None:
    expanded = full.expanded(records)
    assert expanded.has_records
    assert expanded.is_full
    assert expanded == full
    assert hash(expanded) == hash(full)
    visit = expanded.records["visit"]
    assert visit is not None
    assert visit.physical_filter == "Cam-R"
    assert expanded.records["visit_detector_region"] is None
    assert not full.has_records  # expanding returned a copy


def test_only_full_data_ids_can_be_expanded(
    minimal: DataCoordinate, records: dict[str, DimensionRecord | None]
) -> None:
    with pytest.raises(DataIdError, match="Only a full data ID can carry records"):
        minimal.expanded(records)


def test_subset_of_full_is_full(universe: DimensionUniverse, full: DataCoordinate) -> None:
    visit_group = universe.group(["visit"])
    sub = full.subset(visit_group)
    assert sub.group is visit_group
    assert sub.is_full
    assert dict(sub) == {
        "instrument": "Cam",
        "visit": 1228,
        "band": "r",
        "physical_filter": "Cam-R",
        "day_obs": 20250101,
    }
    detector = full.subset(universe.group(["detector"]))
    assert dict(detector) == {"instrument": "Cam", "detector": 12}
    assert full.subset(universe.empty) == DataCoordinate.empty(universe.empty)


def test_subset_of_minimal_is_minimal(universe: DimensionUniverse, minimal: DataCoordinate) -> None:
    sub = minimal.subset(universe.group(["visit"]))
    assert not sub.is_full
    assert dict(sub) == {"instrument": "Cam", "visit": 1228}


def test_subset_to_the_same_group_is_the_same_object(full: DataCoordinate, group: DimensionGroup) -> None:
    assert full.subset(group) is full


def test_subset_needing_an_unknown_value_is_refused(universe: DimensionUniverse, minimal: DataCoordinate) -> None:
    with pytest.raises(DataIdError, match="has no value for 'physical_filter'"):
        minimal.subset(universe.group(["physical_filter"]))
    with pytest.raises(DataIdError, match="has no value for 'band'"):
        minimal.subset(universe.group(["band"]))


def test_subset_of_expanded_keeps_the_group_records(
    universe: DimensionUniverse, full: DataCoordinate, records: dict[str, DimensionRecord | None]
) -> None:

    sub = full.expanded(records).subset(universe.group(["visit"]))
    assert sub.has_records
    assert set(sub.records) == set(universe.group(["visit"]).elements)
    assert sub.records["visit"] == records["visit"]
    assert "detector" not in sub.records


def test_empty_data_id(universe: DimensionUniverse) -> None:
    empty = DataCoordinate.empty(universe.empty)
    assert len(empty) == 0
    assert dict(empty) == {}
    assert empty.is_full
    assert empty == DataCoordinate.from_required(universe.empty, ())
    assert repr(empty) == "{}"


def test_repr_lists_known_values(minimal: DataCoordinate, full: DataCoordinate) -> None:
    assert repr(minimal) == "{instrument: 'Cam', detector: 12, visit: 1228}"
    assert repr(full).startswith("{instrument: 'Cam', detector: 12, visit: 1228, ")
    assert "physical_filter: 'Cam-R'" in repr(full)


@pytest.mark.parametrize("state", ["minimal", "full"])
def test_pickle_round_trip_keeps_group_values_and_state(state: str, request: pytest.FixtureRequest) -> None:
    original: DataCoordinate = request.getfixturevalue(state)
    copy = pickle.loads(pickle.dumps(original))
    assert copy == original
    assert hash(copy) == hash(original)
    assert dict(copy) == dict(original)
    assert copy.is_full == original.is_full
    # The universe is rebuilt from its text through the same cache, so groups stay shared.
    assert copy.group is original.group
