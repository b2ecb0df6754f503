"""Creating and opening registries: stored universe, schema version, migrations, PostgreSQL schemas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.registry.conftest import downgrade

from skybutler.dimensions import DimensionUniverse
from skybutler.errors import ConfigError, ConflictError, MigrationRequiredError
from skybutler.registry import SCHEMA_VERSION, Database, Registry
from skybutler.registry._migrate import head_revision, migrate
from skybutler.testing.fixtures import POSTGRES_URL, fresh_schema

RegistryFactory = Callable[..., Registry]

#: Every migration, oldest first.
REVISIONS = [
    "0001",
    "0002",
    "0003_dataset_type_format",
    "0004_datastore_name",
    "0005_pg_fk_checks",
    "0006_spatial_index",
    "0007_provenance",
    "0008_server_tokens",
    "0009_run_end_index",
]


def _set_stamp(registry: Registry, version: str | None) -> None:
    with registry.db.transaction() as conn:
        conn.execute(sa.text("DELETE FROM alembic_version"))
        if version is not None:
            conn.execute(sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version})


def test_create_then_open_sees_the_same_rows(registry: Registry, open_registry: RegistryFactory) -> None:
    registry.insert_dimension_records("instrument", [{"name": "Cam"}])
    reopened = open_registry()
    assert [r.name for r in reopened.fetch_dimension_records("instrument")] == ["Cam"]


def test_attributes_record_schema_and_universe(registry: Registry, universe: DimensionUniverse) -> None:
    attributes = registry.attributes()
    assert attributes["schema_version"] == SCHEMA_VERSION
    assert attributes["universe_namespace"] == universe.namespace
    assert attributes["universe_version"] == str(universe.version)
    assert attributes["universe"] == universe.text
    assert int(attributes["created"]) > 0


def test_open_missing_registry_is_a_config_error(registry_url: tuple[str, str | None]) -> None:
    url, schema = registry_url
    with pytest.raises(ConfigError, match="No skybutler registry") as info:
        Registry.open(url, schema=schema)
    assert "create" in str(info.value)


@pytest.mark.parametrize("where", ["missing.sqlite3", "no/such/folder/registry.sqlite3"])
def test_open_missing_sqlite_file_is_a_config_error_and_creates_nothing(tmp_path: Path, where: str) -> None:
    path = tmp_path / where
    with pytest.raises(ConfigError, match="No skybutler registry"):
        Registry.open(f"sqlite:///{path}")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_create_twice_is_a_conflict(registry: Registry, registry_url: tuple[str, str | None]) -> None:
    url, schema = registry_url
    with pytest.raises(ConflictError, match="already exists"):
        Registry.create(url, universe=registry.universe, schema=schema)
    # The first registry is untouched and still usable.
    assert registry.insert_dimension_records("band", [{"name": "r"}]) == 1


def test_open_uses_the_universe_stored_at_create(
    registry_url: tuple[str, str | None],
    universe: DimensionUniverse,
    open_registry: RegistryFactory,
    edit_universe: Callable[..., DimensionUniverse],
) -> None:
    url, schema = registry_url
    custom = edit_universe(universe, telescope={"keys": [{"name": "name", "type": "string", "length": 16}]})
    assert "telescope" in custom
    assert "telescope" not in universe
    created = Registry.create(url, universe=custom, schema=schema)
    created.close()

    reopened = open_registry()
    assert reopened.universe is custom  # universes are cached by text: the very same object
    assert reopened.universe.namespace == custom.namespace != universe.namespace
    assert reopened.universe.version == 7
    assert reopened.insert_dimension_records("telescope", [{"name": "T1"}]) == 1
    assert [r.name for r in reopened.fetch_dimension_records("telescope")] == ["T1"]


@pytest.mark.parametrize(("stamp", "advice"), [("0000", "skybutler migrate"), ("9999", "upgrade skybutler")])
def test_schema_version_mismatch_requires_migration(
    registry: Registry, open_registry: RegistryFactory, stamp: str, advice: str
) -> None:
    _set_stamp(registry, stamp)
    with pytest.raises(MigrationRequiredError, match=advice) as info:
        open_registry()
    assert stamp in str(info.value)
    assert SCHEMA_VERSION in str(info.value)


def test_a_universe_clashing_with_registry_tables_is_refused_and_creates_nothing(
    registry_url: tuple[str, str | None],
    universe: DimensionUniverse,
    open_registry: RegistryFactory,
    edit_universe: Callable[..., DimensionUniverse],
) -> None:
    url, schema = registry_url
    clash = edit_universe(universe, dataset={"keys": [{"name": "id", "type": "int"}]})
    with pytest.raises(ConfigError, match="'dataset' collides with a registry table"):
        Registry.create(url, universe=clash, schema=schema)
    with pytest.raises(ConfigError, match="No skybutler registry"):
        open_registry()
    Registry.create(url, universe=universe, schema=schema).close()
    assert open_registry().universe is universe


def test_head_revision_is_the_schema_version() -> None:
    assert head_revision() == SCHEMA_VERSION


def test_migrate_dry_run_on_a_current_registry_has_nothing_pending(registry: Registry) -> None:
    assert migrate(registry.db, dry_run=True) == []
    assert migrate(registry.db) == []


def test_migrate_applies_what_is_pending(registry: Registry, open_registry: RegistryFactory) -> None:
    _set_stamp(registry, None)
    assert migrate(registry.db, dry_run=True) == REVISIONS
    assert migrate(registry.db) == REVISIONS
    assert migrate(registry.db, dry_run=True) == []
    assert open_registry().attributes()["schema_version"] == SCHEMA_VERSION


def _index_names(registry: Registry, table: str) -> set[str]:
    with registry.db.transaction(write=False) as conn:
        return {ix["name"] for ix in sa.inspect(conn).get_indexes(table) if ix["name"]}


def test_migration_0002_adds_partial_data_id_indexes_to_old_tags_tables(
    registry: Registry, open_registry: RegistryFactory, universe: DimensionUniverse
) -> None:
    from skybutler.datasets import DatasetType

    if "visit" not in universe:
        pytest.skip("needs the default universe's visit")
    dims = universe.group(["instrument", "visit", "detector"])
    registry.register_dataset_type(DatasetType("calexp", dims, "StructuredDataDict"))
    table = registry.dataset_types.get("calexp").tags.name
    assert f"{table}_visit" in _index_names(registry, table)
    # a repository made at revision 0001 has no such index
    with registry.db.transaction() as conn:
        conn.execute(sa.text(f'DROP INDEX "{table}_visit"'))
        conn.execute(sa.text("UPDATE butler_attributes SET value = '0001' WHERE name = 'schema_version'"))
    _set_stamp(registry, "0001")
    with pytest.raises(MigrationRequiredError, match="skybutler migrate"):
        open_registry()
    assert migrate(registry.db) == REVISIONS[1:]
    assert f"{table}_visit" in _index_names(registry, table)
    reopened = open_registry()
    assert reopened.attributes()["schema_version"] == SCHEMA_VERSION
    assert reopened.get_dataset_type("calexp").name == "calexp"


def _columns(registry: Registry, table: str) -> list[str]:
    with registry.db.transaction(write=False) as conn:
        return [c["name"] for c in sa.inspect(conn).get_columns(table)]


def _downgrade_to_0002(registry: Registry) -> None:
    """Make ``registry`` what revision 0002 wrote: no ``dataset_type.format`` column, stamped 0002."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    with registry.db.transaction() as conn:
        Operations(MigrationContext.configure(conn)).drop_column("dataset_type", "format")
        conn.execute(sa.text("UPDATE butler_attributes SET value = '0002' WHERE name = 'schema_version'"))
    _set_stamp(registry, "0002")


def test_migration_0003_adds_the_dataset_type_format_column(
    registry: Registry, open_registry: RegistryFactory, universe: DimensionUniverse
) -> None:
    from skybutler.datasets import DatasetType

    registry.register_dataset_type(DatasetType("calexp", ["detector"], "StructuredDataDict", universe=universe))
    _downgrade_to_0002(registry)
    assert "format" not in _columns(registry, "dataset_type")
    with pytest.raises(MigrationRequiredError, match="skybutler migrate") as info:
        open_registry()
    assert "version 0002" in str(info.value)
    assert migrate(registry.db, dry_run=True) == REVISIONS[2:]
    assert "format" not in _columns(registry, "dataset_type")  # a dry run changes nothing
    assert migrate(registry.db) == REVISIONS[2:]
    assert "format" in _columns(registry, "dataset_type")
    reopened = open_registry()
    assert reopened.attributes()["schema_version"] == SCHEMA_VERSION
    # the type registered before the migration has no format (the configuration decides), and new ones can
    old = reopened.get_dataset_type("calexp")
    assert (old.name, old.format) == ("calexp", None)
    src = DatasetType("src", ["detector"], "StructuredDataDict", universe=universe, format="yaml")
    assert reopened.register_dataset_type(src) is True
    assert open_registry().get_dataset_type("src").format == "yaml"


def test_migration_0003_downgrade_drops_the_column(registry: Registry, open_registry: RegistryFactory) -> None:
    downgrade(registry, "0002")
    assert "format" not in _columns(registry, "dataset_type")
    assert registry.attributes()["schema_version"] == "0002"
    assert migrate(registry.db) == REVISIONS[2:]
    assert "format" in _columns(registry, "dataset_type")
    assert open_registry().attributes()["schema_version"] == SCHEMA_VERSION


def _primary_key(registry: Registry, table: str) -> list[str]:
    with registry.db.transaction(write=False) as conn:
        return list(sa.inspect(conn).get_pk_constraint(table)["constrained_columns"])


def test_migration_0004_records_which_datastore_holds_each_artifact(
    registry: Registry, open_registry: RegistryFactory
) -> None:
    import uuid

    from skybutler.datasets import ArtifactInfo, DatasetType
    from skybutler.registry import CollectionType, NewDataset

    registry.insert_dimension_records("instrument", [{"name": "Cam"}])
    registry.register_dataset_type(DatasetType("meta", registry.universe.group(["instrument"]), "StructuredDataDict"))
    stored = registry.dataset_types.get("meta")
    run = registry.collections.register("run", CollectionType.RUN)[0]
    kept = NewDataset(uuid.uuid4(), ("Cam",), ArtifactInfo("run/meta/Cam.json", "json", "StructuredDataDict", 2, None))
    registry.datasets.insert(stored, run.id, [kept])
    other = registry.collections.register("other", CollectionType.RUN)[0]
    artifact = ArtifactInfo("other/meta/Cam.json", "json", "StructuredDataDict", 2, None)
    gone = NewDataset(uuid.uuid4(), ("Cam",), artifact)
    registry.datasets.insert(stored, other.id, [gone])
    registry.datasets.remove([gone.id])  # leaves a trash row to carry over
    # a repository of revision 0002: no datastore column, the old primary key
    downgrade(registry, "0002")
    assert "datastore" not in _columns(registry, "datastore_record")
    assert "datastore" not in _columns(registry, "trash")
    assert _primary_key(registry, "datastore_record") == ["dataset_id", "component"]
    with pytest.raises(MigrationRequiredError, match="skybutler migrate"):
        open_registry()

    assert migrate(registry.db) == REVISIONS[2:]
    assert _primary_key(registry, "datastore_record") == ["dataset_id", "component", "datastore"]
    reopened = open_registry()
    assert reopened.attributes()["schema_version"] == SCHEMA_VERSION
    row = reopened.datasets.find(stored, [run.id], ("Cam",))
    assert row is not None
    assert [(a.path, a.datastore) for a in row.artifacts] == [("run/meta/Cam.json", "")]
    assert [(path, name) for _, _, name, path in reopened.datasets.trash()] == [("other/meta/Cam.json", "")]
    # the new key lets a second datastore (a chained datastore's child) hold the same dataset
    in_memory = ArtifactInfo("x", "memory", "StructuredDataDict", 0, None, datastore="mem")
    both = NewDataset(uuid.uuid4(), ("Cam",), artifact, (in_memory,))
    reopened.datasets.insert(stored, other.id, [both])
    found = reopened.datasets.find(stored, [other.id], ("Cam",))
    assert found is not None
    assert sorted(a.datastore for a in found.artifacts) == ["", "mem"]


def test_downgrade_from_0004_refuses_while_a_child_holds_artifacts(registry: Registry) -> None:
    import uuid

    from skybutler.datasets import ArtifactInfo, DatasetType
    from skybutler.registry import CollectionType, NewDataset

    registry.insert_dimension_records("instrument", [{"name": "Cam"}])
    registry.register_dataset_type(DatasetType("meta", registry.universe.group(["instrument"]), "StructuredDataDict"))
    run = registry.collections.register("run", CollectionType.RUN)[0]
    artifact = ArtifactInfo("id", "memory", "StructuredDataDict", 0, None, datastore="scratch")
    registry.datasets.insert(registry.dataset_types.get("meta"), run.id, [NewDataset(uuid.uuid4(), ("Cam",), artifact)])
    with pytest.raises(ConflictError, match="name a child of a chained datastore"):
        downgrade(registry, "0003_dataset_type_format")
    assert "datastore" in _columns(registry, "datastore_record")


def test_repositories_in_postgres_schemas_are_isolated(
    registry_url: tuple[str, str | None], universe: DimensionUniverse
) -> None:
    url, schema = registry_url
    if schema is None:
        pytest.skip("PostgreSQL schemas only: a SQLite registry is a file of its own")
    with fresh_schema(POSTGRES_URL) as other_schema:
        first = Registry.create(url, universe=universe, schema=schema)
        second = Registry.create(url, universe=universe, schema=other_schema)
        try:
            first.insert_dimension_records("instrument", [{"name": "Cam"}])
            second.insert_dimension_records("instrument", [{"name": "Other"}])
            first.register_run("run/a")
            assert [r.name for r in first.fetch_dimension_records("instrument")] == ["Cam"]
            assert [r.name for r in second.fetch_dimension_records("instrument")] == ["Other"]
            assert [c.name for c in first.query_collections()] == ["run/a"]
            assert second.query_collections() == []
            # The same names may exist in both, independently.
            assert second.insert_dimension_records("instrument", [{"name": "Cam"}]) == 1
            assert second.register_run("run/a") is True
        finally:
            first.close()
            second.close()
        reopened = Registry.open(url, schema=other_schema)
        try:
            assert sorted(r.name for r in reopened.fetch_dimension_records("instrument")) == ["Cam", "Other"]
        finally:
            reopened.close()


def test_a_schema_name_is_refused_for_sqlite(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="only applies to PostgreSQL"):
        Database(f"sqlite:///{tmp_path / 'r.sqlite3'}", schema="s")


@pytest.mark.parametrize("schema", ["1abc", "a-b", 'x"; DROP TABLE dataset; --', "a" * 64])
def test_unsafe_schema_names_are_refused(schema: str) -> None:
    with pytest.raises(ConfigError, match="Invalid PostgreSQL schema name"):
        Database(POSTGRES_URL, schema=schema)


@pytest.mark.parametrize("url", ["mysql://u@localhost/db", "not a url"])
def test_unsupported_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        Database(url)
