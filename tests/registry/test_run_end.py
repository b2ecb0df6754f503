"""A run's end time without a `run_context` is its last write, found by seeks in ``dataset_run_type_date``.

Revision 0009: with ``(run_id, dataset_type_id)`` alone, ``max(ingest_date)`` walked every dataset of the run
(~0.5 s for a million on SQLite); with ``ingest_date`` last in the index it is one seek per dataset type.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from tests.registry._statements import statements

from skybutler.butler import DirectButler


def test_a_run_written_without_a_context_ends_at_its_last_write(butler: DirectButler) -> None:
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    butler.register_dataset_type("other", ["instrument", "visit"], "StructuredDataDict")
    before = time.time_ns()
    for v in range(3):
        butler.put({"v": v}, "meta", instrument="Cam", visit=v, detector=1)
    butler.put({"v": 9}, "other", instrument="Cam", visit=1)
    after = time.time_ns()
    with butler.registry.db.transaction(write=False) as conn:
        d = butler.registry.tables.dataset
        last = conn.execute(sa.select(sa.func.max(d.c.ingest_date))).scalar()
    record = butler.run_info(str(butler.run))
    assert record.ended == last
    assert record.ended is not None
    assert before <= record.ended <= after


def test_the_end_time_is_read_by_index_seeks(butler: DirectButler) -> None:
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    butler.put({"v": 1}, "meta", instrument="Cam", visit=1, detector=1)
    db = butler.registry.db
    indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(db.engine).get_indexes("dataset")}
    assert indexes["dataset_run_type_date"] == ["run_id", "dataset_type_id", "ingest_date"]
    assert "dataset_run_type" not in indexes  # replaced, not doubled
    if db.dialect != "sqlite":
        return
    with statements(db) as sent:
        butler.run_info(str(butler.run))
    (end_query,) = [s for s in sent if "max(" in s.lower() and "ingest_date" in s]
    with db.engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {end_query}", (1,)))
    assert "COVERING INDEX dataset_run_type_date (run_id=? AND dataset_type_id=?)" in plan, plan
