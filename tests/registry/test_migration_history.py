"""The Alembic history: one head, and every revision downgraded to the first and upgraded back on both back-ends.

Several issues add schema revisions at once; two branches that each add one leave Alembic with two heads,
and `migrate` would then refuse to run.  These tests fail first, where the history is read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from tests.registry.conftest import downgrade

from skybutler.datasets import DatasetType
from skybutler.errors import MigrationRequiredError
from skybutler.registry import SCHEMA_VERSION, CollectionType, NewDataset, Registry
from skybutler.registry._migrate import _config, head_revision, migrate

RegistryFactory = Callable[..., Registry]


def _script() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())  # type: ignore[arg-type]


def test_the_history_has_one_head_and_it_is_the_schema_version() -> None:
    script = _script()
    heads = script.get_heads()
    assert len(heads) == 1, f"the migration history has {len(heads)} heads {heads}: merge them (alembic merge)"
    assert heads == [head_revision()] == [SCHEMA_VERSION]
    bases = script.get_bases()
    assert bases == ["0001"], bases
    chain = [s.revision for s in script.walk_revisions()]  # head first, each down_revision its successor
    assert chain[-1] == "0001"
    assert len(chain) == len(set(chain))


def _schema(registry: Registry) -> dict[str, Any]:
    """Tables with their columns, indexes, unique constraints and foreign keys, as the database reports them."""
    out: dict[str, Any] = {}
    with registry.db.transaction(write=False) as conn:
        inspector = sa.inspect(conn)
        schema = registry.db.schema if conn.dialect.name != "sqlite" else None
        for table in sorted(inspector.get_table_names(schema=schema)):
            if table == "alembic_version":
                continue
            out[table] = (
                sorted((c["name"], str(c["type"]), bool(c["nullable"])) for c in inspector.get_columns(table, schema)),
                sorted((tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table, schema)),
                sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table, schema)),
                sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                    for f in inspector.get_foreign_keys(table, schema)
                ),
            )
    return out


def test_every_revision_downgrades_to_the_first_and_upgrades_back(
    sample: Registry, open_registry: RegistryFactory
) -> None:
    registry = sample
    dims = registry.universe.group(["instrument", "visit", "detector"])
    registry.register_dataset_type(DatasetType("calexp", dims, "StructuredDataDict"))
    stored = registry.dataset_types.get("calexp")
    run = registry.collections.register("run", CollectionType.RUN)[0]
    ids = [uuid.uuid4() for _ in range(3)]
    registry.datasets.insert(stored, run.id, [NewDataset(i, ("Cam", d, 1), None) for d, i in enumerate(ids)])
    before = _schema(registry)

    downgrade(registry, "0001")
    assert registry.attributes()["schema_version"] == "0001"
    assert _schema(registry) != before, "downgrading to 0001 changed nothing: the test would prove nothing"
    with pytest.raises(MigrationRequiredError, match="skybutler migrate"):
        open_registry()
    applied = migrate(registry.db)
    assert applied == [s.revision for s in _script().walk_revisions()][::-1][1:]
    assert applied[-1] == SCHEMA_VERSION

    assert _schema(registry) == before
    reopened = open_registry()
    assert reopened.attributes()["schema_version"] == SCHEMA_VERSION
    stored = reopened.dataset_types.get("calexp")
    collections = [reopened.collections.get("run").id]
    for detector, dataset_id in enumerate(ids):
        found = reopened.datasets.find(stored, collections, ("Cam", detector, 1))  # (instrument, detector, visit)
        assert found is not None
        assert found.id == dataset_id
