"""Result objects: len, truth, a repr that shows them; a query with no collections searches every RUN.

Issue 19 item 6: ``print(butler.query_datasets(...))`` showed ``<... object at 0x...>``, results had no
``len()``, and ``Butler(root).query_datasets("meta", where=...)`` raised "No collections to search" while the
command line searched every RUN.
"""

from __future__ import annotations

import re

import pytest

from skybutler.butler import DirectButler
from skybutler.errors import CollectionError


@pytest.fixture
def two_runs(butler: DirectButler) -> DirectButler:
    """'meta' for visits 0-2 of detector 0 in test/run, and visit 0 again in rerun (3 + 1 datasets)."""
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    for visit in range(3):
        butler.put({"visit": visit}, "meta", instrument="Cam", visit=visit, detector=0)
    butler.put({"visit": 0, "again": True}, "meta", instrument="Cam", visit=0, detector=0, run="rerun")
    return butler


def test_results_have_len_truth_and_a_repr_that_lists_them(two_runs: DirectButler) -> None:
    results = two_runs.query_datasets("meta", collections="test/run", where="visit > 0")
    assert len(results) == 2
    assert results
    lines = repr(results).splitlines()
    assert lines[0] == "DatasetResults: 2 dataset(s):"
    assert all(
        re.match(r"  DatasetRef\(meta, \{instrument: 'Cam', detector: 0, visit: [12]\}", line) for line in lines[1:]
    )
    empty = two_runs.query_datasets("meta", collections="test/run", where="visit > 5")
    assert len(empty) == 0
    assert not empty
    assert repr(empty) == "DatasetResults: 0 dataset(s)"
    data_ids = two_runs.query_data_ids(["visit"], where="visit < 2")
    assert len(data_ids) == 2
    assert repr(data_ids).splitlines()[0] == "DataIdResults: 2 data ID(s):"


def test_a_long_result_shows_ten_and_its_count(two_runs: DirectButler) -> None:
    text = repr(two_runs.query_data_ids(["visit", "detector"]))
    lines = text.splitlines()
    assert lines[0] == "DataIdResults: 200 data ID(s):"
    assert len(lines) == 12
    assert lines[-1] == "  ..."


def test_a_query_with_no_collections_searches_every_run_and_says_so(repo: str, two_runs: DirectButler) -> None:
    with DirectButler(repo) as reader:  # no run, no default collections
        found = list(reader.query_datasets("meta", where="visit = 0"))
        assert sorted(ref.run for ref in found) == ["rerun", "test/run"]  # every RUN, not find-first
        results = reader.query_datasets("meta", where="visit = 7")
        assert results.note == "no collections given: every RUN collection was searched, not find-first"
        assert results.explain_no_results()[0] == (
            "No collections given: every RUN collection was searched, not find-first."
        )
        assert "every RUN collection was searched" in repr(results)
        data_ids = reader.query_data_ids(["visit"], datasets="meta")
        assert sorted(c["visit"] for c in data_ids) == [0, 1, 2]
        # get and find_dataset still need a search path, and say how to give one
        with pytest.raises(CollectionError, match="pass collections= to this call or to Butler"):
            reader.find_dataset("meta", instrument="Cam", visit=0, detector=0)


def test_defaults_still_search_find_first(repo: str, two_runs: DirectButler) -> None:
    with DirectButler(repo, collections=["rerun", "test/run"]) as reader:
        found = list(reader.query_datasets("meta", where="visit = 0"))
        assert [ref.run for ref in found] == ["rerun"]
        assert reader.query_datasets("meta").note is None


def test_list_of_results_runs_each_query_once(two_runs: DirectButler) -> None:
    # list() asks for len() first: when len() counted in the database, every query ran twice (W1's 2x)
    import sqlalchemy as sa

    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    db = two_runs.registry.db
    datasets = two_runs.query_datasets("meta", collections="test/run", where="visit > 0")
    data_ids = two_runs.query_data_ids(["visit", "detector"], datasets="meta", collections="test/run")
    sa.event.listen(db.engine, "before_cursor_execute", record)
    if db.dialect == "sqlite":  # SQLite reads run on the driver's connection, past SQLAlchemy's events
        db._driver().set_trace_callback(lambda statement: record(None, None, statement))
    try:
        assert len(list(datasets)) == 2
        datasets_selects = len(statements)
        assert len(list(data_ids)) == 3
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
        if db.dialect == "sqlite":
            db._driver().set_trace_callback(None)
    assert datasets_selects == 1, statements
    assert len(statements) == 2, statements
    assert not any("count(" in s.lower() for s in statements), statements
    # a later iteration queries again: what len() fetched is handed to the next iteration only
    assert len(datasets) == 2
    assert len(list(datasets)) == 2
    assert [r.data_id["visit"] for r in datasets] == [r.data_id["visit"] for r in list(datasets)]
