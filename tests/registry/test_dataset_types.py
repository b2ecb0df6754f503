"""Dataset types in the registry: idempotent registration, conflicts, lookups and shared tags tables."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from skybutler.datasets import DatasetType
from skybutler.dimensions import DimensionUniverse
from skybutler.errors import DatasetTypeError
from skybutler.registry import Registry

RegistryFactory = Callable[..., Registry]


def _tags_tables(registry: Registry) -> set[str]:
    with registry.db.transaction(write=False) as conn:
        return {t for t in sa.inspect(conn).get_table_names() if t.startswith("dataset_tags_")}


@pytest.fixture
def calexp(universe: DimensionUniverse) -> DatasetType:
    return DatasetType("calexp", ["visit", "detector"], "StructuredDataDict", universe=universe)


def test_register_new_then_identical(registry: Registry, calexp: DatasetType) -> None:
    assert registry.register_dataset_type(calexp) is True
    assert registry.register_dataset_type(calexp) is False
    same = DatasetType("calexp", ["detector", "visit"], "StructuredDataDict", universe=registry.universe)
    assert registry.register_dataset_type(same) is False
    assert registry.get_dataset_type("calexp") == calexp
    assert registry.query_dataset_types() == [calexp]


def test_identical_registration_from_another_connection_is_a_no_op(
    registry: Registry, calexp: DatasetType, open_registry: RegistryFactory
) -> None:
    registry.register_dataset_type(calexp)
    other = open_registry()
    assert other.register_dataset_type(calexp) is False
    assert other.get_dataset_type("calexp") == calexp
    assert other.dataset_types.get("calexp").tags.name == registry.dataset_types.get("calexp").tags.name


@pytest.mark.parametrize(
    ("dimensions", "storage_class", "is_calibration"),
    [
        (["visit"], "StructuredDataDict", False),
        (["visit", "detector"], "NumpyArray", False),
        (["visit", "detector"], "StructuredDataDict", True),
    ],
)
def test_conflicting_definition_is_a_dataset_type_error(
    registry: Registry,
    calexp: DatasetType,
    open_registry: RegistryFactory,
    dimensions: list[str],
    storage_class: str,
    is_calibration: bool,
) -> None:
    registry.register_dataset_type(calexp)
    other = DatasetType("calexp", dimensions, storage_class, universe=registry.universe, is_calibration=is_calibration)
    with pytest.raises(DatasetTypeError, match="already registered") as info:
        registry.register_dataset_type(other)
    assert calexp.describe() in str(info.value)
    assert other.describe() in str(info.value)
    # Also from a connection that has not cached the stored definition.
    with pytest.raises(DatasetTypeError, match="already registered"):
        open_registry().register_dataset_type(other)
    assert registry.get_dataset_type("calexp") == calexp


def _with_format(dataset_type: DatasetType, fmt: str | None) -> DatasetType:
    return DatasetType(
        dataset_type.name,
        dataset_type.dimensions,
        dataset_type.storage_class,
        is_calibration=dataset_type.is_calibration,
        format=fmt,
    )


def test_the_format_is_stored_with_the_type(
    registry: Registry, calexp: DatasetType, open_registry: RegistryFactory
) -> None:
    assert registry.register_dataset_type(_with_format(calexp, "yaml")) is True
    for reader in (registry, open_registry()):  # cached, and read back from the database
        found = reader.get_dataset_type("calexp")
        assert found.format == "yaml"
        assert found == calexp  # the format is a storage choice: equality ignores it
        assert [t.format for t in reader.query_dataset_types()] == ["yaml"]
    with registry.db.transaction(write=False) as conn:
        stored = conn.execute(sa.text("SELECT format FROM dataset_type WHERE name = 'calexp'")).scalar_one()
    assert stored == "yaml"


def test_registering_again_without_a_format_keeps_the_registered_one(
    registry: Registry, calexp: DatasetType, open_registry: RegistryFactory
) -> None:
    registry.register_dataset_type(_with_format(calexp, "yaml"))
    assert registry.register_dataset_type(calexp) is False  # no choice given: matches, nothing changes
    assert registry.register_dataset_type(_with_format(calexp, "yaml")) is False
    assert open_registry().get_dataset_type("calexp").format == "yaml"


@pytest.mark.parametrize(("first", "second"), [("yaml", "json"), (None, "json")])
def test_registering_again_with_another_format_is_refused(
    registry: Registry, calexp: DatasetType, open_registry: RegistryFactory, first: str | None, second: str
) -> None:
    registry.register_dataset_type(_with_format(calexp, first))
    other = _with_format(calexp, second)
    for where in (registry, open_registry()):  # also where the stored definition is not cached
        with pytest.raises(DatasetTypeError, match="already registered") as info:
            where.register_dataset_type(other)
        assert f"in {second}" in str(info.value)
        assert "a format cannot be changed in place" in str(info.value)
    assert open_registry().get_dataset_type("calexp").format == first


@pytest.mark.parametrize("fmt", ["", "h d f", "../fits", 5])
def test_a_malformed_format_name_is_refused(universe: DimensionUniverse, fmt: object) -> None:
    with pytest.raises(DatasetTypeError, match="is not a formatter name"):
        DatasetType("src", ["detector"], "StructuredDataDict", universe=universe, format=fmt)  # type: ignore[arg-type]


def test_components_cannot_be_registered(registry: Registry, universe: DimensionUniverse) -> None:
    component = DatasetType("calexp.wcs", ["visit", "detector"], "StructuredDataDict", universe=universe)
    with pytest.raises(DatasetTypeError, match="register its parent 'calexp'"):
        registry.register_dataset_type(component)
    assert registry.query_dataset_types() == []


def test_get_unknown_suggests_close_names(registry: Registry, calexp: DatasetType) -> None:
    registry.register_dataset_type(calexp)
    with pytest.raises(DatasetTypeError, match="Did you mean 'calexp'") as info:
        registry.get_dataset_type("calexpp")
    assert "'calexpp' is not registered" in str(info.value)
    with pytest.raises(DatasetTypeError) as info:
        registry.get_dataset_type("raw")
    assert "Did you mean" not in str(info.value)


def test_types_with_the_same_required_dimensions_share_one_tags_table(
    registry: Registry, universe: DimensionUniverse
) -> None:
    assert _tags_tables(registry) == set()
    for name in ("calexp", "src", "meta"):
        registry.register_dataset_type(
            DatasetType(name, ["visit", "detector"], "StructuredDataDict", universe=universe)
        )
    # physical_filter, band and day_obs are implied by visit: the same required dimensions.
    registry.register_dataset_type(
        DatasetType("alias", ["visit", "detector", "band"], "StructuredDataDict", universe=universe)
    )
    tags = {registry.dataset_types.get(n).tags.name for n in ("calexp", "src", "meta", "alias")}
    assert tags == {"dataset_tags_instrument_detector_visit"}
    assert _tags_tables(registry) == tags
    registry.register_dataset_type(DatasetType("bias", ["detector"], "NumpyArray", universe=universe))
    registry.register_dataset_type(DatasetType("config", [], "StructuredDataDict", universe=universe))
    assert _tags_tables(registry) == tags | {"dataset_tags_instrument_detector", "dataset_tags_empty"}


@pytest.mark.parametrize(
    "dimensions",
    [
        ["detector", "day_obs", "physical_filter"],  # "dataset_tags_" + key is 56 characters
        ["detector", "day_obs", "physical_filter", "htm7"],  # 61: too long, so hashed
        ["detector", "day_obs", "physical_filter", "htm7", "htm8", "visit"],
    ],
)
def test_long_dimension_groups_get_valid_table_names(
    registry: Registry, universe: DimensionUniverse, open_registry: RegistryFactory, dimensions: list[str]
) -> None:
    dataset_type = DatasetType("long", dimensions, "StructuredDataDict", universe=universe)
    assert registry.register_dataset_type(dataset_type) is True
    name = registry.dataset_types.get("long").tags.name
    assert len(name) <= 63 - len("_data_id")  # PostgreSQL identifiers are at most 63 bytes
    assert _tags_tables(registry) == {name}
    assert open_registry().get_dataset_type("long") == dataset_type


def test_dataset_types_survive_reopening(
    registry: Registry, universe: DimensionUniverse, open_registry: RegistryFactory
) -> None:
    types = [
        DatasetType("raw", ["visit", "detector"], "StructuredDataDict", universe=universe),
        DatasetType("bias", ["detector"], "NumpyArray", universe=universe, is_calibration=True),
        DatasetType("config", [], "StructuredDataDict", universe=universe),
    ]
    for t in types:
        registry.register_dataset_type(t)
    reopened = open_registry()
    assert reopened.query_dataset_types() == sorted(types, key=lambda t: t.name)
    bias = reopened.get_dataset_type("bias")
    assert bias.is_calibration
    assert bias.dimensions is universe.group(["detector"])


def test_a_stored_dataset_type_has_the_callers_group_object(
    registry_url: tuple[str, str | None], universe: DimensionUniverse, open_registry: RegistryFactory
) -> None:
    # A universe no other test has used, so its group cache starts empty: the registry names the group by
    # its required dimensions (["instrument", "detector", "visit"]) before the caller names it by a subset.
    fresh = DimensionUniverse.from_yaml(f"{universe.text}\n# fresh copy {uuid.uuid4().hex}\n")
    url, schema = registry_url
    Registry.create(url, universe=fresh, schema=schema).close()
    first = open_registry()
    first.register_dataset_type(
        DatasetType("calexp", fresh.group(["instrument", "detector", "visit"]), "StructuredDataDict")
    )
    stored = open_registry().get_dataset_type("calexp")
    mine = fresh.group(["visit", "detector"])
    assert stored.dimensions is mine
    assert stored == DatasetType("calexp", mine, "StructuredDataDict")


def test_registration_does_not_need_dimension_records(registry: Registry, calexp: DatasetType) -> None:
    assert registry.fetch_dimension_records("visit") == []
    assert registry.register_dataset_type(calexp) is True


def test_remove_a_type_without_datasets(registry: Registry, open_registry: RegistryFactory) -> None:
    from skybutler.errors import ConflictError
    from skybutler.registry import CollectionType, NewDataset

    per_instrument = DatasetType("summary", ["instrument"], "StructuredDataDict", universe=registry.universe)
    registry.register_dataset_type(per_instrument)
    stored = registry.dataset_types.get("summary")
    registry.insert_dimension_records("instrument", [{"name": "Cam"}])
    run = registry.collections.register("run", CollectionType.RUN)[0]
    dataset_id = uuid.uuid4()
    registry.datasets.insert(stored, run.id, [NewDataset(dataset_id, ("Cam",), None)])
    with pytest.raises(ConflictError, match="'summary' still has 1 dataset"):
        registry.dataset_types.remove("summary")
    assert registry.get_dataset_type("summary") == per_instrument
    registry.datasets.remove([dataset_id])
    registry.dataset_types.remove("summary")
    assert registry.query_dataset_types() == []
    assert open_registry().query_dataset_types() == []
    with pytest.raises(DatasetTypeError, match="not registered"):
        registry.dataset_types.remove("summary")
    again = DatasetType("summary", ["instrument", "detector"], "NumpyArray", universe=registry.universe)
    assert registry.register_dataset_type(again) is True  # the name is free for a new definition
