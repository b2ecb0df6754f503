"""PostgreSQL writes of W1's set-up steps in the fewest round trips, and still all-or-nothing (issue 26 part 2).

Counted on the wire (libpq's trace, `round_trips`).  Before: a connection's settings took 4 round trips, a new
registry 11, a new dataset type 11, a new run 6, a few dimension records 3, a run's first put 8.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from tests.registry._statements import round_trips

from skybutler.butler import DirectButler
from skybutler.dimensions import DimensionUniverse
from skybutler.errors import ConflictError
from skybutler.registry import Database, Registry
from skybutler.testing.fixtures import POSTGRES_URL, fresh_schema

on_postgres = pytest.mark.parametrize(
    "registry_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def _tables(schema: str) -> list[str]:
    engine = sa.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return sorted(sa.inspect(conn).get_table_names(schema=schema))
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_connection_is_set_up_without_round_trips() -> None:
    """search_path and lock_timeout come in the start-up packet (were BEGIN, two SETs, COMMIT)."""
    with fresh_schema(POSTGRES_URL) as schema:
        db = Database(POSTGRES_URL, schema=schema, busy_timeout=2.5)
        try:
            with round_trips(db) as trips, db.transaction(write=False) as conn:
                shown = [conn.exec_driver_sql(f"SHOW {name}").scalar() for name in ("search_path", "lock_timeout")]
            assert shown == [schema, "2500ms"]
            assert len(trips) == 4, trips  # the two SHOWs in their transaction: nothing else was sent
        finally:
            db.close()


@pytest.mark.postgres
def test_create_is_all_or_nothing_in_one_round_trip() -> None:
    """A schema holding one of the registry's table names: the create is refused whole, nothing is left."""
    universe = DimensionUniverse.default()
    with fresh_schema(POSTGRES_URL) as schema:
        engine = sa.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            conn.exec_driver_sql(f'CREATE TABLE "{schema}".visit (x integer)')
        engine.dispose()
        with pytest.raises(ConflictError, match=r"already exists .*visit"):
            Registry.create(POSTGRES_URL, universe=universe, schema=schema)
        assert _tables(schema) == ["visit"]  # the tables created before it in the pipeline were rolled back
    with fresh_schema(POSTGRES_URL) as schema:
        registry = Registry.create(POSTGRES_URL, universe=universe, schema=schema)
        registry.close()
        with pytest.raises(ConflictError, match="A registry already exists"):
            Registry.create(POSTGRES_URL, universe=universe, schema=schema)
        reopened = Registry.open(POSTGRES_URL, schema=schema)
        try:
            assert reopened.universe.namespace == universe.namespace
        finally:
            reopened.close()


@on_postgres
def test_new_dataset_type_run_and_records_round_trips(butler: DirectButler) -> None:
    db = butler.registry.db
    with round_trips(db) as trips:
        butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
    assert len(trips) == 2, trips  # the look-up, then lock + DDL + INSERT ... RETURNING in one pipeline
    assert "pg_advisory_xact_lock" in trips[1], trips
    assert "INSERT INTO dataset_type" in trips[1], trips
    with round_trips(db) as trips:
        assert butler.registry.register_run("new/run") is True
    assert len(trips) == 2, trips  # the look-up, then INSERT ... RETURNING alone (no BEGIN/COMMIT)
    with round_trips(db) as trips:
        records = [{"instrument": "Cam", "id": d, "full_name": f"N{d}"} for d in (57, 58)]
        butler.registry.insert_dimension_records("detector", records)
    assert len(trips) == 1, trips
    butler.put({"d": 58}, "bias", instrument="Cam", detector=58)  # this process's environment, stored once
    with round_trips(db) as trips:  # the run's first put records the run in the put's round trip
        ref = butler.put({"d": 57}, "bias", instrument="Cam", detector=57, run="new/run")
    assert len(trips) == 1, trips
    assert "run_record" in trips[0], trips
    assert butler.get(ref) == {"d": 57}
    assert butler.registry.runs.get(butler.registry.collections.get("new/run").id, "new/run") is not None


@on_postgres
def test_a_refused_dimension_record_is_explained_and_leaves_nothing(butler: DirectButler) -> None:
    registry = butler.registry
    registry.insert_dimension_records("detector", [{"instrument": "Cam", "id": 60, "full_name": "N60"}])
    again = [{"instrument": "Cam", "id": 61, "full_name": "N61"}, {"instrument": "Cam", "id": 60, "full_name": "N60"}]
    with pytest.raises(ConflictError, match="60"):  # the second row is refused at the pipeline's end
        registry.insert_dimension_records("detector", again)
    assert sorted(r.id for r in registry.fetch_dimension_records("detector") if r.id >= 60) == [60]
