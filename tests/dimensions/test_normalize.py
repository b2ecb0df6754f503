"""normalize_data_id: the rules for key names and values, and a property test that every valid spelling agrees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skybutler.dimensions import DataCoordinate, DataIdInput, DimensionGroup, DimensionUniverse, normalize_data_id
from skybutler.errors import DataIdError


@pytest.fixture
def universe() -> DimensionUniverse:
    """The small universe of ``tests/mini_universe.yaml``."""
    return DimensionUniverse.from_yaml((Path(__file__).parents[1] / "mini_universe.yaml").read_text())


def test_dict_kwargs_and_data_coordinate_give_the_same_values(universe: DimensionUniverse) -> None:
    group = universe.group(["visit", "detector"])
    expected = {"instrument": "Cam", "detector": 12, "visit": 1228}
    from_dict = normalize_data_id(universe, expected)
    from_kwargs = normalize_data_id(universe, None, expected)
    mixed = normalize_data_id(universe, {"instrument": "Cam"}, {"detector": 12, "visit": 1228})
    coordinate = DataCoordinate.from_required(group, ("Cam", 12, 1228))
    from_coordinate = normalize_data_id(universe, coordinate)
    for result in (from_dict, from_kwargs, mixed, from_coordinate):
        assert result.values == expected
        assert result.alternates == {}
        assert result.minimal(group) == coordinate


def test_full_data_coordinate_of_the_same_group_passes_through(universe: DimensionUniverse) -> None:
    group = universe.group(["visit"])
    full = DataCoordinate.from_full(group, ("Cam", 1228, "r", "Cam-R", 20250101))
    result = normalize_data_id(universe, full, group=group)
    assert result.values == dict(full)
    minimal = result.minimal(group)
    assert minimal == full
    assert minimal is not None
    assert not minimal.is_full


def test_data_coordinate_plus_kwargs(universe: DimensionUniverse) -> None:
    coordinate = DataCoordinate.from_required(universe.group(["visit"]), ("Cam", 1228))
    result = normalize_data_id(universe, coordinate, {"detector": 3})
    assert result.values == {"instrument": "Cam", "visit": 1228, "detector": 3}


@pytest.mark.parametrize(
    "value",
    [12, np.int8(12), np.int16(12), np.int32(12), np.int64(12), np.uint8(12), np.uint64(12), "12", " 12 "],
)
def test_integer_forms_become_python_int(universe: DimensionUniverse, value: object) -> None:
    result = normalize_data_id(universe, {"instrument": "Cam", "detector": value})
    assert result.values["detector"] == 12
    assert type(result.values["detector"]) is int


def test_negative_digit_string_is_an_int(universe: DimensionUniverse) -> None:
    assert normalize_data_id(universe, {"detector": "-3"}).values == {"detector": -3}


def test_numpy_string_becomes_str(universe: DimensionUniverse) -> None:
    result = normalize_data_id(universe, {"instrument": np.str_("Cam")})
    assert result.values == {"instrument": "Cam"}
    assert type(result.values["instrument"]) is str


def test_dotted_primary_key_is_the_dimension_value(universe: DimensionUniverse) -> None:
    result = normalize_data_id(universe, {"instrument.name": "Cam", "visit.id": 1228, "detector.id": "4"})
    assert result.values == {"instrument": "Cam", "visit": 1228, "detector": 4}
    assert result.alternates == {}


def test_alternate_keys_go_to_alternates(universe: DimensionUniverse) -> None:
    group = universe.group(["visit", "detector"])
    result = normalize_data_id(universe, {"instrument": "Cam", "detector.full_name": "1_12", "visit.name": "v1228"})
    assert result.values == {"instrument": "Cam"}
    assert result.alternates == {"detector": {"full_name": "1_12"}, "visit": {"name": "v1228"}}
    assert result.dimensions() == {"instrument", "detector", "visit"}
    assert result.minimal(group) is None  # alternates need records to resolve
    assert result.describe() == "{instrument: 'Cam', detector.full_name: '1_12', visit.name: 'v1228'}"


def test_minimal_is_none_when_a_required_value_is_missing(universe: DimensionUniverse) -> None:
    result = normalize_data_id(universe, {"instrument": "Cam", "visit": 1})
    assert result.minimal(universe.group(["visit", "detector"])) is None
    minimal = result.minimal(universe.group(["visit"]))
    assert minimal is not None
    assert minimal.required == {"instrument": "Cam", "visit": 1}


def test_skypix_dimensions_are_data_id_keys(universe: DimensionUniverse) -> None:
    assert normalize_data_id(universe, {"htm7": np.int64(131072)}).values == {"htm7": 131072}


def test_unknown_key_suggests_the_closest_dimension(universe: DimensionUniverse) -> None:
    with pytest.raises(DataIdError, match=r"Unknown data ID key 'vist'; did you mean 'visit'\?"):
        normalize_data_id(universe, {"vist": 1})
    with pytest.raises(DataIdError, match=r"Unknown data ID key 'detectr\.id'; did you mean 'detector'\?"):
        normalize_data_id(universe, None, {"detectr.id": 1})


def test_unknown_key_lists_the_valid_keys_of_the_group(universe: DimensionUniverse) -> None:
    group = universe.group(["visit"])
    with pytest.raises(DataIdError, match="Unknown data ID key 'colour'") as info:
        normalize_data_id(universe, {"colour": 1}, group=group)
    assert "Valid keys are ['instrument', 'visit']" in str(info.value)
    assert "implied by them" in str(info.value)


def test_keyless_element_is_not_a_data_id_key(universe: DimensionUniverse) -> None:
    with pytest.raises(DataIdError, match="Unknown data ID key 'visit_detector_region'"):
        normalize_data_id(universe, {"visit_detector_region": 1})


def test_unknown_sub_key_lists_the_dimension_keys(universe: DimensionUniverse) -> None:
    with pytest.raises(DataIdError, match=r"'detector\.serial' is not a key of 'detector'") as info:
        normalize_data_id(universe, {"detector.serial": "X1"})
    assert "['id', 'full_name']" in str(info.value)


def test_key_outside_the_group_is_refused(universe: DimensionUniverse) -> None:
    group = universe.group(["detector"])
    with pytest.raises(DataIdError, match="'visit' is not a dimension of dataset type 'bias'") as info:
        normalize_data_id(
            universe, {"instrument": "Cam", "detector": 1, "visit": 2}, group=group, what="dataset type 'bias'"
        )
    assert "valid keys are ['instrument', 'detector']" in str(info.value)
    with pytest.raises(DataIdError, match="'visit' is not a dimension of this data ID"):
        normalize_data_id(universe, None, {"visit.name": "v1"}, group=group)


def test_implied_keys_of_the_group_are_accepted(universe: DimensionUniverse) -> None:
    group = universe.group(["visit"])
    result = normalize_data_id(universe, {"instrument": "Cam", "visit": 1, "band": "r"}, group=group)
    assert result.values == {"instrument": "Cam", "visit": 1, "band": "r"}


@pytest.mark.parametrize("key", ["visit", "visit.id", "visit.name"])
def test_none_value_is_refused(universe: DimensionUniverse, key: str) -> None:
    with pytest.raises(DataIdError, match=f"The data ID value for '{key}' is None"):
        normalize_data_id(universe, {key: None})


@pytest.mark.parametrize("value", [True, False, np.True_])
def test_bool_is_refused_for_an_integer_key(universe: DimensionUniverse, value: object) -> None:
    with pytest.raises(DataIdError, match="'visit' must be an integer"):
        normalize_data_id(universe, {"visit": value})


@pytest.mark.parametrize("value", [12.0, 12.5, "12.0", "1_000", "+5", "--5", "\N{SUPERSCRIPT TWO}", "", "-", b"12"])
def test_non_integers_are_refused_for_an_integer_key(universe: DimensionUniverse, value: object) -> None:
    with pytest.raises(DataIdError, match="'detector' must be an integer"):
        normalize_data_id(universe, {"detector": value})


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, str(10**20), np.uint64(2**63)])
def test_integers_beyond_64_bits_are_refused(universe: DimensionUniverse, value: object) -> None:
    # The registry stores BIGINT: such a value reached the driver, a raw OverflowError (sqlite3) or DataError.
    with pytest.raises(DataIdError, match=r"'visit' is .*, outside the 64-bit integers"):
        normalize_data_id(universe, {"visit": value})
    assert dict(normalize_data_id(universe, {"visit": 2**63 - 1}).values) == {"visit": 2**63 - 1}


@pytest.mark.parametrize("value", [5, 5.0, b"Cam", None])
def test_non_strings_are_refused_for_a_string_key(universe: DimensionUniverse, value: object) -> None:
    with pytest.raises(DataIdError, match="instrument"):
        normalize_data_id(universe, {"instrument": value})


def test_string_longer_than_the_key_is_refused(universe: DimensionUniverse) -> None:
    with pytest.raises(DataIdError, match="is 33 characters long; at most 32"):
        normalize_data_id(universe, {"instrument": "C" * 33})


@pytest.mark.parametrize(
    ("data_id", "kwargs"),
    [
        ({"visit": 1}, {"visit": 2}),
        ({"visit": 1, "visit.id": 2}, None),
        (None, {"visit.id": "1", "visit": 3}),
        ({"instrument": "A"}, {"instrument.name": "B"}),
    ],
)
def test_conflicting_values_for_one_dimension_are_refused(
    universe: DimensionUniverse, data_id: dict[str, Any] | None, kwargs: dict[str, Any] | None
) -> None:
    with pytest.raises(DataIdError, match="is given twice"):
        normalize_data_id(universe, data_id, kwargs)


def test_conflicting_alternate_values_are_refused(universe: DimensionUniverse) -> None:
    with pytest.raises(DataIdError, match=r"'detector\.full_name' is given twice: '1_1' and '1_2'"):
        normalize_data_id(universe, {"detector.full_name": "1_1"}, {"detector.full_name": "1_2"})


def test_the_same_value_given_twice_is_fine(universe: DimensionUniverse) -> None:
    result = normalize_data_id(universe, {"visit": 7, "visit.id": np.int32(7)}, {"visit": "7"})
    assert result.values == {"visit": 7}


@pytest.mark.parametrize("data_id", [[("visit", 1)], "visit=1", 1228])
def test_data_id_must_be_a_mapping(universe: DimensionUniverse, data_id: Any) -> None:
    with pytest.raises(DataIdError, match="A data ID must be a mapping or a DataCoordinate"):
        normalize_data_id(universe, data_id)


def test_data_id_errors_are_value_errors(universe: DimensionUniverse) -> None:
    with pytest.raises(ValueError, match="did you mean"):
        normalize_data_id(universe, {"instrumnt": "Cam"})


# -- property test: every valid spelling of a data ID normalizes to the same DataCoordinate ----------------------

# Built at import time (not a fixture): hypothesis runs many examples per test call.
_UNIVERSE = DimensionUniverse.from_yaml((Path(__file__).parents[1] / "mini_universe.yaml").read_text())
_GROUPS = [
    _UNIVERSE.group(names)
    for names in (["visit", "detector"], ["visit"], ["detector"], ["physical_filter"], ["day_obs"], ["band"], ["htm7"])
]
_INT_TYPES: list[type[np.integer[Any]]] = [
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
]
_string_values = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=32
)


@st.composite
def _int_spelling(draw: st.DrawFn, value: int) -> object:
    """A valid way to write the integer ``value``: int, a NumPy integer type that holds it, or a decimal string."""
    forms: list[object] = [value, str(value), f" {value}\t"]
    for numpy_type in _INT_TYPES:
        info = np.iinfo(numpy_type)
        if info.min <= value <= info.max:
            forms.append(numpy_type(value))
    return draw(st.sampled_from(forms))


@st.composite
def _spellings(draw: st.DrawFn) -> tuple[DimensionGroup, DataCoordinate, dict[str, object], dict[str, object]]:
    """A group, its expected minimal data ID, and one valid (data_id, kwargs) spelling of it."""
    group = draw(st.sampled_from(_GROUPS))
    canonical: list[int | str] = []
    entries: list[tuple[str, object]] = []
    for name in group.required:
        primary_key = _UNIVERSE[name].primary_key
        value: int | str
        if primary_key.type == "int":
            value = draw(st.integers(min_value=-(2**40), max_value=2**63 - 1))
        else:
            value = draw(_string_values)
        canonical.append(value)
        # Each value is written once or twice (the same value may be repeated), by name or as name.<primary key>.
        for _ in range(draw(st.integers(min_value=1, max_value=2))):
            spelled_key = draw(st.sampled_from([name, f"{name}.{primary_key.name}"]))
            spelled_value = draw(_int_spelling(value)) if isinstance(value, int) else value
            if isinstance(value, str) and draw(st.booleans()):
                spelled_value = np.str_(value)
            entries.append((spelled_key, spelled_value))
    entries = draw(st.permutations(entries))
    data_id: dict[str, object] = {}
    kwargs: dict[str, object] = {}
    for key, spelled in entries:
        # Into the dict or the keyword arguments; a key already used on one side goes to the other.
        target = kwargs if draw(st.booleans()) else data_id
        if key in target:
            target = data_id if target is kwargs else kwargs
        if key in target:
            continue  # both sides hold this exact key already: the value is written twice, which is enough
        target[key] = spelled
    expected = DataCoordinate.from_required(group, tuple(canonical))
    return group, expected, data_id, kwargs


@settings(database=None, max_examples=300)
@given(_spellings(), st.booleans(), st.booleans())
def test_every_valid_spelling_normalizes_to_the_same_data_coordinate(
    case: tuple[DimensionGroup, DataCoordinate, dict[str, object], dict[str, object]],
    pass_group: bool,
    kwargs_as_none: bool,
) -> None:

    group, expected, data_id, kwargs = case
    result = normalize_data_id(
        _UNIVERSE,
        data_id if data_id or not kwargs_as_none else None,
        kwargs if kwargs or not kwargs_as_none else None,
        group=group if pass_group else None,
    )
    assert isinstance(result, DataIdInput)
    assert result.alternates == {}
    minimal = result.minimal(group)
    assert minimal is not None
    assert minimal == expected
    assert hash(minimal) == hash(expected)
    assert minimal.required_values == expected.required_values
    assert [type(v) for v in minimal.required_values] == [type(v) for v in expected.required_values]
    # A DataCoordinate is itself a valid spelling, and normalizes to itself.
    again = normalize_data_id(_UNIVERSE, minimal, group=group).minimal(group)
    assert again == expected
