"""The registry of a repository made by `Butler.create` with the default universe and the sample instrument."""

from __future__ import annotations

import pytest

from skybutler.butler import DirectButler
from skybutler.datasets import DatasetType
from skybutler.dimensions import DimensionUniverse
from skybutler.errors import DataIdError
from skybutler.registry import ExplainedDataId


def test_the_registry_stores_the_default_universe(butler: DirectButler) -> None:
    default = DimensionUniverse.default()
    assert butler.registry.universe is default
    assert butler.registry.attributes()["universe"] == default.text
    assert butler.registry.attributes()["universe_namespace"] == default.namespace


def test_reopening_the_repository_keeps_its_records(butler: DirectButler, repo: str) -> None:
    with DirectButler(repo) as again:
        assert again.registry.universe is butler.registry.universe
        assert len(again.registry.fetch_dimension_records("visit")) == 20
        assert len(again.registry.fetch_dimension_records("detector")) == 10


def test_implied_values_and_records(butler: DirectButler) -> None:
    data_id = butler.registry.expand_data_id(instrument="Cam", visit=3)
    assert data_id["physical_filter"] == "Cam-r"
    assert data_id["band"] == "r"
    assert data_id["day_obs"] == 20250101
    visit = data_id.records["visit"]
    assert visit is not None
    assert visit.physical_filter == "Cam-r"
    assert butler.registry.expand_data_id(instrument="Cam", visit=4)["band"] == "g"


def test_alternate_keys(butler: DirectButler) -> None:
    registry = butler.registry
    assert registry.expand_data_id({"instrument": "Cam", "detector.full_name": "S02"})["detector"] == 2
    assert registry.expand_data_id({"instrument": "Cam", "visit.name": "v3"})["visit"] == 3


def test_explain_and_errors(butler: DirectButler) -> None:
    registry = butler.registry
    explained = registry.expand_data_id(instrument="Cam", visit=3, explain=True)
    assert isinstance(explained, ExplainedDataId)
    assert any(step.startswith("physical_filter='Cam-r' from the visit record") for step in explained.steps)
    assert any(step.startswith("band='r' from the physical_filter record") for step in explained.steps)
    with pytest.raises(DataIdError, match="physical_filter='Cam-g'"):
        registry.expand_data_id(instrument="Cam", visit=3, physical_filter="Cam-g")
    with pytest.raises(DataIdError, match="No visit record"):
        registry.expand_data_id(instrument="Cam", visit=999)


def test_dataset_types_share_tags_tables(butler: DirectButler) -> None:
    registry = butler.registry
    universe = registry.universe
    for name, dims in [("calexp", ["visit", "detector"]), ("src", ["visit", "detector", "band"])]:
        assert registry.register_dataset_type(DatasetType(name, dims, "StructuredDataDict", universe=universe))
    assert registry.dataset_types.get("calexp").tags is registry.dataset_types.get("src").tags
