"""File templates: the paths they render, and the per-run plans giving the same paths as field-by-field rendering."""

from __future__ import annotations

import pytest

from skybutler.config import DEFAULT_TEMPLATE
from skybutler.datasets import DatasetType
from skybutler.datastore._templates import FileTemplate
from skybutler.dimensions import DataCoordinate, DimensionUniverse
from skybutler.errors import ConfigError

UNIVERSE = DimensionUniverse.default()
GROUP = UNIVERSE.group(["instrument", "visit", "detector"])
CALEXP = DatasetType("calexp", GROUP, "StructuredDataDict")


def _data_id(visit: int, detector: int, instrument: str = "Cam") -> DataCoordinate:
    values: dict[str, str | int] = {"instrument": instrument, "visit": visit, "detector": detector}
    return DataCoordinate(GROUP, tuple(values[d] for d in GROUP.required))


@pytest.mark.parametrize(
    ("template", "run", "component", "expected"),
    [
        (DEFAULT_TEMPLATE, "run1", "", "run1/calexp/Cam/{detector}/calexp_Cam_{detector}_{visit}"),
        ("{run}/{dataset_type}/{visit}/{dataset_type}_{visit}_{detector}", "u/me/r", "",
         "u/me/r/calexp/{visit}/calexp_{visit}_{detector}"),
        ("{run}/{dataset_type}_{component:?}_{visit}", "r", "", "r/calexp_{visit}"),
        ("{run}/{dataset_type}_{component:?}_{visit}", "r", "wcs", "r/calexp_wcs_{visit}"),
        ("{run}/{id}", "r", "", "r/abc123"),
        ("{run}/{band:?}/{dataset_type}_{dimensions_name}", "r", "", "r/calexp_Cam_{detector}_{visit}"),
        ("{run}/{dataset_type}/{visit}", "a b{c}", "", "a%20b%7Bc%7D/calexp/{visit}"),
    ],
)  # fmt: skip
def test_paths(template: str, run: str, component: str, expected: str) -> None:
    tmpl = FileTemplate(template)
    for visit, detector in [(12, 3), (7, 0)]:
        want = expected.format(visit=visit, detector=detector)
        # twice: the first call makes the run's plan, the second uses it
        for _ in range(2):
            assert tmpl.render(CALEXP, _data_id(visit, detector), run, "abc123", component) == want


def test_plans_are_per_run_and_dataset_type() -> None:
    tmpl = FileTemplate(DEFAULT_TEMPLATE)
    other = DatasetType("raw", GROUP, "StructuredDataDict")
    data_id = _data_id(1, 2)
    assert tmpl.render(CALEXP, data_id, "a", "x") == "a/calexp/Cam/2/calexp_Cam_2_1"
    assert tmpl.render(CALEXP, data_id, "b", "x") == "b/calexp/Cam/2/calexp_Cam_2_1"
    assert tmpl.render(other, data_id, "a", "x") == "a/raw/Cam/2/raw_Cam_2_1"


def test_values_are_escaped_in_plans_too() -> None:
    group = UNIVERSE.group(["instrument", "detector"])
    flat = DatasetType("flat", group, "StructuredDataDict")
    data_id = DataCoordinate(group, ("My Cam/1", 4))
    tmpl = FileTemplate(DEFAULT_TEMPLATE)
    for _ in range(2):
        assert tmpl.render(flat, data_id, "r", "x") == "r/flat/My%20Cam%2F1/flat_My%20Cam%2F1_4"


def test_a_missing_dimension_that_is_not_optional_is_refused() -> None:
    tmpl = FileTemplate("{run}/{band}/{dataset_type}_{dimensions_name}")
    with pytest.raises(ConfigError, match="needs 'band'"):
        tmpl.render(CALEXP, _data_id(1, 2), "r", "x")


def test_a_dimension_that_is_not_required_comes_from_a_full_data_id() -> None:
    group = UNIVERSE.group(["instrument", "physical_filter"])
    flat = DatasetType("flat", group, "StructuredDataDict")
    values = {"instrument": "Cam", "physical_filter": "Cam-r", "band": "r"}
    full = DataCoordinate.from_full(group, tuple(values[n] for n in group.names))
    minimal = DataCoordinate(group, tuple(values[n] for n in group.required))
    tmpl = FileTemplate("{run}/{band:?}/{dataset_type}_{dimensions_name}")
    assert tmpl.render(flat, full, "r", "x") == "r/r/flat_Cam_Cam-r"
    assert tmpl.render(flat, minimal, "r", "x") == "r/flat_Cam_Cam-r"  # same plan, band absent: optional
    with pytest.raises(ConfigError, match="needs 'band'"):
        FileTemplate("{run}/{band}/{dataset_type}_{dimensions_name}").render(flat, minimal, "r", "x")
