"""Fixtures for the registry tests: registries built in code on every back-end of ``registry_url``.

Registries are made with the default universe and with ``tests/mini_universe.yaml``, a small one. The tests
use what both have: instrument, band, physical_filter (implies band), detector (alternate key ``full_name``),
day_obs (timespan), visit (alternate key ``name``; implies physical_filter and day_obs; timespan and region),
visit_detector_region, and the htm1..htm8 skypix dimensions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from skybutler.dimensions import DimensionUniverse
from skybutler.registry import Registry

MINI_UNIVERSE = Path(__file__).parent.parent / "mini_universe.yaml"

#: TAI nanoseconds of 2025-01-01T12:00:00 UTC (37 leap seconds).
NOON = 1_735_732_800 * 10**9 + 37 * 10**9

RegistryFactory = Callable[..., Registry]


@pytest.fixture(params=["default", "mini"])
def universe(request: pytest.FixtureRequest) -> DimensionUniverse:
    """The default universe, and the small test universe (both have every element and field the tests use)."""
    if request.param == "default":
        return DimensionUniverse.default()
    return DimensionUniverse.from_yaml(MINI_UNIVERSE.read_text())


def edited_universe(universe: DimensionUniverse, **elements: dict[str, Any]) -> DimensionUniverse:
    """A copy of ``universe`` under another namespace and version, with ``elements`` added."""
    config = yaml.safe_load(universe.text)
    config["namespace"] = f"custom-{uuid.uuid4().hex[:8]}"
    config["version"] = 7
    config["elements"].update(elements)
    return DimensionUniverse.from_yaml(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture
def edit_universe() -> Callable[..., DimensionUniverse]:
    """``edit_universe(universe, **elements)``: a fresh copy (own namespace, version 7) with more elements."""
    return edited_universe


@pytest.fixture
def open_registry(registry_url: tuple[str, str | None]) -> Iterator[RegistryFactory]:
    """``open_registry()`` opens the registry at ``registry_url`` again; every one is closed after the test."""
    url, schema = registry_url
    opened: list[Registry] = []

    def _open(**kwargs: Any) -> Registry:
        registry = Registry.open(url, schema=schema, **kwargs)
        opened.append(registry)
        return registry

    yield _open
    for registry in opened:
        registry.close()


@pytest.fixture
def registry(registry_url: tuple[str, str | None], universe: DimensionUniverse) -> Iterator[Registry]:
    """A new, empty registry with the test universe, on each back-end."""
    url, schema = registry_url
    created = Registry.create(url, universe=universe, schema=schema)
    yield created
    created.close()


def make_visit(visit: int, physical_filter: str = "Cam-r", **extra: Any) -> dict[str, Any]:
    """A visit of instrument ``Cam`` on day_obs 20250101, one minute apart, 30 s long."""
    begin = NOON + visit * 60 * 10**9
    record: dict[str, Any] = {
        "instrument": "Cam",
        "id": visit,
        "name": f"v{visit}",
        "physical_filter": physical_filter,
        "day_obs": 20250101,
        "timespan": (begin, begin + 30 * 10**9),
    }
    record.update(extra)
    return record


@pytest.fixture
def visit_record() -> Callable[..., dict[str, Any]]:
    """``visit_record(visit, physical_filter="Cam-r", **extra)``: a visit record as a dict."""
    return make_visit


@pytest.fixture
def sample(registry: Registry) -> Registry:
    """The registry with instrument ``Cam``: bands r, g; filters Cam-r, Cam-g; 4 detectors; visits 0..5."""
    registry.insert_dimension_records("instrument", [{"name": "Cam", "detector_max": 100}])
    registry.insert_dimension_records("band", [{"name": "r"}, {"name": "g"}])
    registry.insert_dimension_records(
        "physical_filter",
        [
            {"instrument": "Cam", "name": "Cam-r", "band": "r"},
            {"instrument": "Cam", "name": "Cam-g", "band": "g"},
        ],
    )
    registry.insert_dimension_records(
        "day_obs", [{"instrument": "Cam", "id": 20250101, "timespan": ("2025-01-01T12:00", "2025-01-02T12:00")}]
    )
    registry.insert_dimension_records(
        "detector", [{"instrument": "Cam", "id": i, "full_name": f"S{i:02d}"} for i in range(4)]
    )
    registry.insert_dimension_records(
        "visit", [make_visit(v, "Cam-r" if v % 2 else "Cam-g", exposure_time=30.0) for v in range(6)]
    )
    return registry


def downgrade(registry: Registry, revision: str) -> None:
    """Run the schema migrations of ``registry`` down to ``revision`` (Alembic), in one transaction."""
    from alembic import command

    from skybutler.registry._migrate import _config

    config = _config()
    with registry.db.transaction() as conn:
        config.attributes["connection"] = conn  # type: ignore[attr-defined]
        command.downgrade(config, revision)  # type: ignore[arg-type]
