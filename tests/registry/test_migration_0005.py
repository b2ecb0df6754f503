"""Migration 0005: the foreign keys PostgreSQL checks per inserted row, upgraded and downgraded on both back-ends."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from tests.registry.conftest import downgrade

from skybutler.datasets import DatasetType
from skybutler.errors import MigrationRequiredError
from skybutler.registry import SCHEMA_VERSION, CollectionType, NewDataset, Registry
from skybutler.registry._migrate import migrate

RegistryFactory = Callable[..., Registry]
Key = tuple[tuple[str, ...], str]

#: The tags table keys of an (instrument, detector, visit) dataset type at revision 0004, and now.
KEYS_0004 = {
    (("dataset_id",), "dataset"),
    (("dataset_type_id",), "dataset_type"),
    (("collection_id",), "collection"),
    (("instrument",), "instrument"),
    (("instrument", "detector"), "detector"),
    (("instrument", "visit"), "visit"),
}
KEYS_0005 = {
    (("dataset_id", "dataset_type_id"), "dataset"),
    (("collection_id",), "collection"),
    (("instrument", "detector"), "detector"),
    (("instrument", "visit"), "visit"),
}


def _keys(registry: Registry, table: str) -> set[Key]:
    with registry.db.transaction(write=False) as conn:
        found = sa.inspect(conn).get_foreign_keys(table)
    return {(tuple(fk["constrained_columns"]), fk["referred_table"]) for fk in found}


def _unique(registry: Registry, table: str) -> list[list[str | None]]:
    with registry.db.transaction(write=False) as conn:
        inspector = sa.inspect(conn)
        out: list[list[str | None]] = [list(u["column_names"]) for u in inspector.get_unique_constraints(table)]
        return out + [ix["column_names"] for ix in inspector.get_indexes(table) if ix["unique"]]


@pytest.fixture
def populated(registry: Registry) -> tuple[str, uuid.UUID]:
    """One ``calexp`` dataset of Cam, visit 1, detector 2 in run ``run``: the tags table's name, the dataset ID."""
    registry.insert_dimension_records("instrument", [{"name": "Cam"}])
    registry.insert_dimension_records("band", [{"name": "r"}])
    registry.insert_dimension_records("physical_filter", [{"instrument": "Cam", "name": "Cam-r", "band": "r"}])
    registry.insert_dimension_records("day_obs", [{"instrument": "Cam", "id": 20250101}])
    registry.insert_dimension_records("detector", [{"instrument": "Cam", "id": 2, "full_name": "S2"}])
    visit = {"instrument": "Cam", "id": 1, "name": "v1", "physical_filter": "Cam-r", "day_obs": 20250101}
    registry.insert_dimension_records("visit", [visit])
    dims = registry.universe.group(["instrument", "visit", "detector"])
    registry.register_dataset_type(DatasetType("calexp", dims, "StructuredDataDict"))
    stored = registry.dataset_types.get("calexp")
    run = registry.collections.register("run", CollectionType.RUN)[0]
    dataset_id = uuid.uuid4()
    registry.datasets.insert(stored, run.id, [NewDataset(dataset_id, ("Cam", 2, 1), None)])
    return stored.tags.name, dataset_id


def _insert_tag(registry: Registry, table: str, values: dict[str, object]) -> None:
    """A tags row written directly (bypassing every check of ours): only the database's keys judge it."""
    names = ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    with registry.db.transaction() as conn:
        conn.execute(sa.text(f'INSERT INTO "{table}" ({names}) VALUES ({params})'), values)


def test_upgrade_from_0004_folds_and_drops_keys_and_keeps_the_data(
    registry: Registry, open_registry: RegistryFactory, populated: tuple[str, uuid.UUID]
) -> None:
    table, dataset_id = populated
    assert _keys(registry, table) == KEYS_0005
    assert ["name", "instrument"] in _unique(registry, "visit")
    downgrade(registry, "0004_datastore_name")
    assert _keys(registry, table) == KEYS_0004
    assert ["id", "dataset_type_id"] not in _unique(registry, "dataset")
    if registry.db.dialect == "postgresql":  # SQLite keeps its element tables as they are (see the migration)
        assert ["instrument", "name"] in _unique(registry, "visit")
        assert ["name", "instrument"] not in _unique(registry, "visit")
    with pytest.raises(MigrationRequiredError, match="skybutler migrate"):
        open_registry()

    applied = migrate(registry.db)  # 0005, then any later revisions
    assert applied[0] == "0005_pg_fk_checks"
    assert applied[-1] == SCHEMA_VERSION
    assert _keys(registry, table) == KEYS_0005
    assert ["id", "dataset_type_id"] in _unique(registry, "dataset")
    for element, alternate in (("visit", "name"), ("detector", "full_name")):
        assert [alternate, "instrument"] in _unique(registry, element)
        assert ["instrument", alternate] not in _unique(registry, element)
    reopened = open_registry()
    assert reopened.attributes()["schema_version"] == SCHEMA_VERSION
    stored = reopened.dataset_types.get("calexp")
    found = reopened.datasets.find(stored, [reopened.collections.get("run").id], ("Cam", 2, 1))
    assert found is not None
    assert found.id == dataset_id


def test_after_the_upgrade_the_keys_still_refuse_what_they_refused(
    registry: Registry, open_registry: RegistryFactory, populated: tuple[str, uuid.UUID]
) -> None:
    table, dataset_id = populated
    downgrade(registry, "0004_datastore_name")
    migrate(registry.db)
    reopened = open_registry()
    stored = reopened.dataset_types.get("calexp")
    tagged = reopened.collections.register("tagged", CollectionType.TAGGED)[0]
    good = {
        "dataset_type_id": stored.id,
        "collection_id": tagged.id,
        "dataset_id": reopened.db.id_values([dataset_id])[0],
    }
    good |= {"instrument": "Cam", "detector": 2, "visit": 1}
    refused = [
        good | {"instrument": "Nope"},  # no such instrument: the (instrument, detector) key catches it
        good | {"visit": 99},
        good | {"detector": 99},
        good | {"dataset_id": reopened.db.id_values([uuid.uuid4()])[0]},
        good | {"dataset_type_id": stored.id + 1000},  # not the dataset's type (and no such type)
        good | {"collection_id": tagged.id + 1000},
    ]
    for values in refused:
        with pytest.raises(sa.exc.IntegrityError):
            _insert_tag(reopened, table, values)
    _insert_tag(reopened, table, good)
    # the folded key still cascades: removing the dataset removes its tags rows in every collection
    reopened.datasets.remove([dataset_id])
    with reopened.db.transaction(write=False) as conn:
        assert conn.execute(sa.text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one() == 0


def test_a_tags_row_must_have_its_datasets_type(registry: Registry, populated: tuple[str, uuid.UUID]) -> None:
    """New since 0005: the folded key also refuses a tags row whose type is not its dataset's."""
    table, dataset_id = populated
    other = DatasetType("other", registry.universe.group(["instrument", "visit", "detector"]), "StructuredDataDict")
    registry.register_dataset_type(other)
    tagged = registry.collections.register("tagged", CollectionType.TAGGED)[0]
    values = {
        "dataset_type_id": registry.dataset_types.get("other").id,
        "collection_id": tagged.id,
        "dataset_id": registry.db.id_values([dataset_id])[0],
        "instrument": "Cam",
        "detector": 2,
        "visit": 1,
    }
    with pytest.raises(sa.exc.IntegrityError):
        _insert_tag(registry, table, values)


def test_downgrade_to_0004_restores_its_keys_and_upgrades_again(
    registry: Registry, populated: tuple[str, uuid.UUID]
) -> None:
    table, _ = populated
    downgrade(registry, "0004_datastore_name")
    assert registry.attributes()["schema_version"] == "0004_datastore_name"
    assert _keys(registry, table) == KEYS_0004
    applied = migrate(registry.db)  # 0005, then any later revisions
    assert applied[0] == "0005_pg_fk_checks"
    assert applied[-1] == SCHEMA_VERSION
    assert migrate(registry.db) == []
    assert _keys(registry, table) == KEYS_0005
