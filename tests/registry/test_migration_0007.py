"""Migration 0007_provenance on both back-ends: tables added, refused downgrade while they hold records."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from tests.registry.conftest import downgrade

from skybutler.errors import ConflictError
from skybutler.registry import Registry
from skybutler.registry._migrate import migrate

TABLES = {"dataset_input", "environment", "environment_fingerprint", "run_record", "run_environment"}


def _tables(registry: Registry) -> set[str]:
    with registry.db.transaction(write=False) as conn:
        schema = registry.db.schema if conn.dialect.name != "sqlite" else None
        return set(sa.inspect(conn).get_table_names(schema=schema))


def test_downgrade_drops_the_tables_and_upgrade_brings_them_back(registry: Registry) -> None:
    assert _tables(registry) >= TABLES
    downgrade(registry, "0006_spatial_index")
    assert not TABLES & _tables(registry)
    assert registry.attributes()["schema_version"] == "0006_spatial_index"
    applied = migrate(registry.db)
    assert "0007_provenance" in applied
    assert _tables(registry) >= TABLES


def test_downgrade_is_refused_while_lineage_is_recorded(registry: Registry) -> None:
    edge = registry.tables.provenance.edge
    with registry.db.transaction() as conn:
        conn.execute(edge.insert(), [{"output_id": uuid.uuid4(), "input_id": uuid.uuid4(), "output_type": "a",
                                      "input_type": "b", "recorded": 1}])  # fmt: skip
    with pytest.raises(ConflictError, match="lineage edge"):
        downgrade(registry, "0006_spatial_index")
    assert _tables(registry) >= TABLES  # the failed downgrade changed nothing
    assert len(registry.lineage.all_edges()) == 1
