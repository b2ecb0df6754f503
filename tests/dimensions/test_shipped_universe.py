"""The default universe shipped in ``skybutler/dimensions/universes/default.yaml``."""

from __future__ import annotations

from importlib import resources

import pytest

from skybutler.datasets import DatasetType
from skybutler.dimensions import DataCoordinate, DimensionUniverse, normalize_data_id

DIMENSIONS = [
    "instrument",
    "band",
    "physical_filter",
    "subfilter",
    "detector",
    "group",
    "day_obs",
    "exposure",
    "visit",
    "visit_system",
    "skymap",
    "tract",
    "patch",
]
KEYLESS = ["visit_definition", "visit_detector_region", "visit_system_membership"]


@pytest.fixture
def default() -> DimensionUniverse:
    text = resources.files("skybutler.dimensions.universes").joinpath("default.yaml")
    if not text.is_file():
        pytest.fail("src/skybutler/dimensions/universes/default.yaml is missing")
    return DimensionUniverse.default()


def test_default_is_loaded_once(default: DimensionUniverse) -> None:
    assert DimensionUniverse.default() is default
    assert DimensionUniverse.from_yaml(default.text) is default


@pytest.mark.parametrize("name", DIMENSIONS)
def test_default_has_the_reference_dimensions(default: DimensionUniverse, name: str) -> None:
    assert name in default
    assert default[name].is_dimension
    assert not default[name].is_skypix


@pytest.mark.parametrize("name", KEYLESS)
def test_default_has_the_reference_keyless_elements(default: DimensionUniverse, name: str) -> None:
    assert name in default
    assert not default[name].is_dimension
    assert default[name].required


def test_default_has_htm_and_healpix_skypix(default: DimensionUniverse) -> None:
    skypix = [e.name for e in default.elements if e.is_skypix]
    assert any(name.startswith("htm") for name in skypix)
    assert any(name.startswith("healpix") for name in skypix)
    assert default.skypix_common in skypix
    for name in skypix:
        assert default[name].primary_key.type == "int"


def test_default_governors(default: DimensionUniverse) -> None:
    assert {g.name for g in default.governors} == {"instrument", "skymap"}


def test_default_order_puts_dependencies_first(default: DimensionUniverse) -> None:
    position = {e.name: i for i, e in enumerate(default.elements)}
    for element in default.elements:
        for dep in (*element.requires, *element.implies):
            assert position[dep] < position[element.name]
        assert len(set(element.record_fields())) == len(element.record_fields()), element.name


def test_visit_detector_group(default: DimensionUniverse) -> None:
    group = default.group(["visit", "detector"])
    assert group.required == ("instrument", "detector", "visit")
    assert set(group.implied) == {"physical_filter", "band", "day_obs"}
    assert "visit_detector_region" in group.elements


def test_exposure_and_skymap_groups(default: DimensionUniverse) -> None:
    assert set(default.group(["exposure", "detector"]).required) == {"instrument", "detector", "exposure"}
    assert default.group(["patch"]).required == ("skymap", "tract", "patch")
    assert default.group(["physical_filter"]).implied == ("band",)


def test_data_ids_and_dataset_types_in_the_default_universe(default: DimensionUniverse) -> None:
    calexp = DatasetType("calexp", ["visit", "detector"], "NumpyArray", universe=default)
    data_id = normalize_data_id(default, {"instrument": "Cam", "visit": "1228"}, {"detector": 12})
    minimal = data_id.minimal(calexp.dimensions)
    assert minimal == DataCoordinate.from_required(calexp.dimensions, ("Cam", 12, 1228))
    detector = DataCoordinate.from_required(default.group(["detector"]), ("Cam", 2))
    assert repr(detector) == "{instrument: 'Cam', detector: 2}"


def test_exposure_implies_its_filter_group_and_night(default: DimensionUniverse) -> None:
    group = default.group(["exposure"])
    assert group.required == ("instrument", "exposure")
    assert set(group.implied) == {"physical_filter", "band", "group", "day_obs"}
    assert [k.name for k in default["exposure"].alternate_keys] == ["obs_id"]


def test_default_skypix_levels(default: DimensionUniverse) -> None:
    assert default.skypix_common == "htm7"
    assert {f"htm{level}" for level in range(1, 25)} <= {e.name for e in default.elements if e.is_skypix}
    assert {f"healpix{level}" for level in range(1, 18)} <= {e.name for e in default.elements if e.is_skypix}
    assert "htm25" not in default
