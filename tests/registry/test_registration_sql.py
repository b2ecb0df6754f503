"""Dataset types and collections registered and found through SQL text (`Database.one_row`), on both back-ends."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.registry._statements import statements

from skybutler.datasets import DatasetType
from skybutler.errors import ConflictError
from skybutler.registry import CollectionType, Registry, _collections, _dataset_types
from skybutler.registry._schema import StaticTables

RegistryFactory = Callable[..., Registry]


def _names(columns: str) -> list[str]:
    return [c.strip().strip('"') for c in columns.split(",")]


def test_the_statements_name_every_column_of_their_tables_in_order() -> None:
    tables = StaticTables(sa.MetaData())
    for module, table in ((_collections, tables.collection), (_dataset_types, tables.dataset_type)):
        columns = [c.name for c in table.columns]
        selected = re.fullmatch(r"SELECT (.*) FROM (\w+) WHERE name = :name", module._FIND)
        assert selected is not None
        assert (_names(selected[1]), selected[2]) == (columns, table.name)
        inserted = re.fullmatch(
            r"INSERT INTO (\w+) \((.*)\) VALUES \((.*)\) ON CONFLICT \(name\) DO NOTHING RETURNING (.*)", module._INSERT
        )
        assert inserted is not None
        assert inserted[1] == table.name
        assert _names(inserted[2]) == columns[1:]  # all but the generated key
        assert _names(inserted[3]) == [f":{c}" for c in columns[1:]]
        assert _names(inserted[4]) == columns


def test_a_registration_is_one_statement_when_its_tables_exist(registry: Registry) -> None:
    u = registry.universe
    registry.register_dataset_type(DatasetType("a", ["visit", "detector"], "StructuredDataDict", universe=u))
    with statements(registry.db) as sent:
        registry.register_dataset_type(DatasetType("b", ["visit", "detector"], "NumpyArray", universe=u))
        registry.register_run("run/1")
    verbs = [s.split()[0].upper() for s in sent]
    assert verbs == ["SELECT", "INSERT", "SELECT", "INSERT"], sent  # no BEGIN, COMMIT, nor existence check


def test_a_new_types_tables_and_row_are_one_transaction(registry: Registry, open_registry: RegistryFactory) -> None:
    u = registry.universe
    bias = DatasetType("bias", ["instrument", "detector"], "StructuredDataDict", universe=u, is_calibration=True)
    assert registry.register_dataset_type(bias) is True
    other = open_registry()
    found = other.get_dataset_type("bias")
    assert found == bias
    assert found.is_calibration is True  # a bool, whatever the driver gives back
    assert other.dataset_types.get("bias").calibs is not None
    with other.db.transaction(write=False) as conn:
        names = set(sa.inspect(conn).get_table_names())
    stored = other.dataset_types.get("bias")
    assert {stored.tag_table, stored.calib_table} <= names


class _UndoError(Exception):
    pass


def _register_then_fail(registry: Registry) -> None:
    with registry.db.transaction():
        registry.register_run("undone/run")
        registry.register_dataset_type(
            DatasetType("undone", ["visit"], "StructuredDataDict", universe=registry.universe)
        )
        raise _UndoError


def test_registrations_join_the_transaction_in_progress(registry: Registry, open_registry: RegistryFactory) -> None:
    u = registry.universe
    registry.register_dataset_type(DatasetType("kept", ["visit"], "StructuredDataDict", universe=u))

    with pytest.raises(_UndoError):
        _register_then_fail(registry)
    other = open_registry()
    assert other.collections.find("undone/run") is None
    assert other.dataset_types.find("undone") is None
    assert other.dataset_types.find("kept") is not None


def test_a_name_taken_elsewhere_is_found_or_refused(registry: Registry, open_registry: RegistryFactory) -> None:
    other = open_registry()
    other.collections.register("calib", CollectionType.CALIBRATION, "made elsewhere")
    record, created = registry.collections.register("calib", CollectionType.CALIBRATION)
    assert (created, record.doc, record.type) == (False, "made elsewhere", CollectionType.CALIBRATION)
    other.register_run("elsewhere")
    with pytest.raises(ConflictError, match="already exists as a RUN collection, not TAGGED"):
        registry.collections.register("elsewhere", CollectionType.TAGGED)


def _typed_rows(registry: Registry, table: str) -> list[tuple[object, ...]]:
    """Every row of ``table`` as SQLite stores it: each value with its storage class."""
    raw = registry.db._driver()
    columns = [r[1] for r in raw.execute(f'PRAGMA table_info("{table}")')]
    typed = ", ".join(f'typeof("{c}"), "{c}"' for c in columns)
    return sorted(raw.execute(f'SELECT {typed} FROM "{table}"').fetchall(), key=repr)


def test_sqlite_rows_are_those_sqlalchemy_writes(registry: Registry, tmp_path: Path) -> None:
    if registry.db.dialect != "sqlite":
        pytest.skip("the values as SQLite stores them")
    u = registry.universe
    types = [
        DatasetType("c", ["visit"], "StructuredDataDict", universe=u, is_calibration=True),
        DatasetType("d", ["visit"], "NumpyArray", universe=u, format="npy"),
    ]
    for dataset_type in types:
        registry.register_dataset_type(dataset_type)
    registry.register_run("run/1", doc="a doc")
    registry.collections.register("calib", CollectionType.CALIBRATION)
    reference = Registry.create(f"sqlite:///{tmp_path / 'reference.sqlite3'}", universe=u)
    try:  # the same rows written through SQLAlchemy's Table objects, as before SQL text
        t, c = reference.tables.dataset_type, reference.tables.collection
        with reference.db.transaction() as conn:
            for stored in (registry.dataset_types.get(d.name) for d in types):
                d = stored.dataset_type
                conn.execute(
                    t.insert().values(
                        name=d.name, dimensions=json.dumps(list(d.dimensions.required)),
                        storage_class=d.storage_class, is_calibration=d.is_calibration, tag_table=stored.tag_table,
                        format=d.format,
                    )
                )  # fmt: skip
            conn.execute(c.insert().values(name="run/1", type=int(CollectionType.RUN), doc="a doc"))
            conn.execute(c.insert().values(name="calib", type=int(CollectionType.CALIBRATION), doc=None))
        for table in ("dataset_type", "collection"):
            assert _typed_rows(registry, table) == _typed_rows(reference, table)
    finally:
        reference.close()
    first = _typed_rows(registry, "dataset_type")[0]
    assert first[2:4] == ("text", "c")
    assert first[8:10] == ("integer", 1)  # is_calibration: a boolean stored as SQLAlchemy stores one
