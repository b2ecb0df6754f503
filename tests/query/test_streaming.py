"""Streaming query results leave the connection as it was (regression: server-side cursors on PostgreSQL)."""

from __future__ import annotations

import itertools

from skybutler.butler import Butler


def test_queries_then_new_tables_and_writes(butler: Butler) -> None:
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    butler.put_many([({"v": v}, {"instrument": "Cam", "visit": v, "detector": 1}) for v in range(20)], "meta")
    assert len(list(butler.query_datasets("meta"))) == 20
    partial = list(itertools.islice(iter(butler.query_data_ids(["visit"], datasets="meta")), 3))  # stop early
    assert len(partial) == 3
    # New tables (DDL) and writes on the same connection still work afterwards.
    butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
    ref = butler.put({"b": 1}, "bias", instrument="Cam", detector=1)
    assert butler.get(ref) == {"b": 1}
