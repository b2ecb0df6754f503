"""DatasetType: name rules, components, dimensions and equality."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skybutler.datasets import DatasetType
from skybutler.dimensions import DimensionUniverse
from skybutler.errors import DatasetTypeError


@pytest.fixture
def universe() -> DimensionUniverse:
    """The small universe of ``tests/mini_universe.yaml``."""
    return DimensionUniverse.from_yaml((Path(__file__).parents[1] / "mini_universe.yaml").read_text())


@pytest.mark.parametrize("name", ["calexp", "calexp.wcs", "_private", "deepCoadd_calexp", "a1", "raw.metadata_2"])
def test_valid_names(universe: DimensionUniverse, name: str) -> None:
    assert DatasetType(name, ["detector"], "Bytes", universe=universe).name == name


@pytest.mark.parametrize(
    "name",
    ["", "1calexp", "calexp.wcs.x", "calexp.", ".wcs", "cal-exp", "cal exp", "calexp\n", "é", "calexp/wcs", "a..b"],
)
def test_invalid_names_are_refused(universe: DimensionUniverse, name: str) -> None:
    with pytest.raises(DatasetTypeError, match="Invalid dataset type name") as info:
        DatasetType(name, ["detector"], "Bytes", universe=universe)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("name", [123, None, b"calexp"])
def test_non_string_names_are_refused(universe: DimensionUniverse, name: Any) -> None:
    with pytest.raises(DatasetTypeError, match="Invalid dataset type name"):
        DatasetType(name, ["detector"], "Bytes", universe=universe)


def test_parent_and_component(universe: DimensionUniverse) -> None:
    parent = DatasetType("calexp", ["visit", "detector"], "Bytes", universe=universe)
    component = DatasetType("calexp.wcs", ["visit", "detector"], "StructuredDataDict", universe=universe)
    assert parent.parent_name == "calexp"
    assert parent.component is None
    assert component.parent_name == "calexp"
    assert component.component == "wcs"


def test_dimensions_are_a_group_of_the_universe(universe: DimensionUniverse) -> None:
    dataset_type = DatasetType("calexp", ["visit", "detector"], "Bytes", universe=universe)
    assert dataset_type.dimensions is universe.group(["visit", "detector"])
    assert dataset_type.dimensions.required == ("instrument", "detector", "visit")
    assert DatasetType("calexp", dataset_type.dimensions, "Bytes").dimensions is dataset_type.dimensions


def test_dimensions_given_as_a_string_are_refused(universe: DimensionUniverse) -> None:
    with pytest.raises(DatasetTypeError, match=r"give dimensions as a list, e\.g\. \['visit'\], not a string"):
        DatasetType("calexp", "visit", "Bytes", universe=universe)


def test_dimension_names_need_a_universe() -> None:
    with pytest.raises(DatasetTypeError, match="dimensions given by name need a universe"):
        DatasetType("calexp", ["visit"], "Bytes")


@pytest.mark.parametrize("storage_class", ["", None, 5])
def test_storage_class_must_be_a_non_empty_name(universe: DimensionUniverse, storage_class: Any) -> None:
    with pytest.raises(DatasetTypeError, match="storage class must be a non-empty name"):
        DatasetType("calexp", ["visit"], storage_class, universe=universe)


def test_equality_and_hash(universe: DimensionUniverse) -> None:
    a = DatasetType("calexp", ["visit", "detector"], "Bytes", universe=universe)
    b = DatasetType("calexp", ["detector", "visit"], "Bytes", universe=universe)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != DatasetType("calexp", ["visit", "detector"], "NumpyArray", universe=universe)
    assert a != DatasetType("calexp", ["visit"], "Bytes", universe=universe)
    assert a != DatasetType("calexp", ["visit", "detector"], "Bytes", universe=universe, is_calibration=True)
    assert a != DatasetType("calexp2", ["visit", "detector"], "Bytes", universe=universe)
    assert a != "calexp"


def test_describe_and_repr(universe: DimensionUniverse) -> None:
    bias = DatasetType("bias", ["detector"], "NumpyArray", universe=universe, is_calibration=True)
    assert bias.is_calibration
    assert bias.describe() == "bias(instrument, detector) as NumpyArray, calibration"
    assert repr(bias) == "DatasetType(bias(instrument, detector) as NumpyArray, calibration)"
    raw = DatasetType("raw", ["visit"], "Bytes", universe=universe)
    assert raw.describe() == "raw(instrument, visit) as Bytes"


def test_no_dimensions(universe: DimensionUniverse) -> None:
    summary = DatasetType("summary", [], "StructuredDataDict", universe=universe)
    assert summary.dimensions is universe.empty
    assert summary.describe() == "summary() as StructuredDataDict"


def test_unknown_dimension_is_refused(universe: DimensionUniverse) -> None:
    with pytest.raises(ValueError, match="did you mean 'visit'"):
        DatasetType("calexp", ["vist"], "Bytes", universe=universe)
