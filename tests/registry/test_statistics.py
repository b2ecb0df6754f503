"""SQLite planner statistics and range estimates (`registry._statistics`, docs/concepts.md "Registry back-ends").

A small repository keeps no statistics; a large tags table gets an exact ``ANALYZE`` after the bulk commit that
takes it past `STATS_ROWS`, and again once it has grown `GROWTH` times.  With statistics, a `where` comparison of
a dimension key with a constant tells SQLite the share of keys it keeps (``likelihood``): the plans at 10 M
datasets are pinned here on a small repository whose ``sqlite_stat1`` says it is that large.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.registry import NewDataset, _statistics

TAGS = "dataset_tags_instrument_detector_visit"
N_VISITS, N_DETECTORS = 100, 10
STAT1_10M = [  # what ANALYZE writes for scale.py's 10 M-dataset repository (10 types of 1 M data IDs, 100 detectors)
    (f"{TAGS}_visit", "10001000 909182 909182 909182 100 1 1"),
    (f"{TAGS}_data_id", "10001000 10001000 100010 11 1"),
    (f"sqlite_autoindex_{TAGS}_2", "10001000 909182 909182 909182 9092 1"),
    (f"sqlite_autoindex_{TAGS}_1", "10001000 1 1"),
]


def _repo(root: Path) -> Path:
    """A repository with one instrument, `N_DETECTORS` detectors, visits 1..`N_VISITS` and dataset type ``t``."""
    Butler.create(root)
    with DirectButler(root, writeable=True) as butler:
        reg = butler.registry
        reg.insert_dimension_records("instrument", [{"name": "Cam", "visit_max": 10**6, "detector_max": 100}])
        reg.insert_dimension_records("band", [{"name": "r"}])
        reg.insert_dimension_records("physical_filter", [{"instrument": "Cam", "name": "Cam-r", "band": "r"}])
        reg.insert_dimension_records("day_obs", [{"instrument": "Cam", "id": 20250101}])
        reg.insert_dimension_records(
            "detector", [{"instrument": "Cam", "id": d, "full_name": f"D{d}"} for d in range(N_DETECTORS)]
        )
        reg.insert_dimension_records(
            "visit",
            [{"instrument": "Cam", "id": v, "name": f"v{v}", "physical_filter": "Cam-r", "day_obs": 20250101}
             for v in range(1, N_VISITS + 1)],
        )  # fmt: skip
        butler.collections.register("bulk")
        butler.register_dataset_type("t", ["instrument", "visit", "detector"], "StructuredDataDict")
        for name in "uw":
            butler.register_dataset_type(name, ["instrument", "visit", "detector"], "StructuredDataDict")
    return root


def _insert(butler: DirectButler, name: str, visits: range) -> None:
    """Datasets of type ``name`` for every detector of ``visits``, in one bulk registry insert."""
    reg = butler.registry
    stored = reg.dataset_types.get(name)
    order = stored.dataset_type.dimensions.required
    ids: list[dict[str, int | str]] = [
        {"instrument": "Cam", "visit": v, "detector": d} for v in visits for d in range(N_DETECTORS)
    ]
    values: list[tuple[int | str, ...]] = [tuple(i[k] for k in order) for i in ids]
    reg.datasets.insert(stored, butler.collections.get("bulk").id, [NewDataset(uuid.uuid4(), v, None) for v in values])


def _stat1(root: Path) -> dict[str, str]:
    with sqlite3.connect(root / "registry.sqlite3") as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchall():
            return {}
        return {idx: stat for tbl, idx, stat in conn.execute("SELECT * FROM sqlite_stat1") if tbl == TAGS}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return _repo(tmp_path / "repo")


def test_a_bulk_commit_past_the_threshold_analyzes_the_tags_table(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_statistics, "STATS_ROWS", 1500)
    with DirectButler(repo, writeable=True) as butler:
        _insert(butler, "u", range(1, 101))  # a bulk commit (1 000 datasets), but the table holds 1 000 < 1 500
        assert _stat1(repo) == {}
        assert not butler.registry.estimates.active()
        _insert(butler, "t", range(1, 51))  # 500 datasets: no bulk commit, no maintenance
        assert _stat1(repo) == {}
        _insert(butler, "w", range(1, 101))  # a bulk commit: the table now holds 2 500
        stats = _stat1(repo)
        assert stats[f"{TAGS}_visit"].split()[0] == "2500", stats
        assert butler.registry.db.analyzed == [TAGS]
        assert butler.registry.estimates.active()  # at once, for this connection's queries


def test_statistics_are_refreshed_only_after_the_table_grew_four_times(repo: Path) -> None:
    conn = sqlite3.connect(repo / "registry.sqlite3", isolation_level=None)
    conn.execute("ANALYZE sqlite_schema")
    conn.execute("INSERT INTO sqlite_stat1 VALUES (?, ?, ?)", (TAGS, f"{TAGS}_visit", "100 1 1 1 1 1 1"))
    with DirectButler(repo, writeable=True) as butler:
        _insert(butler, "t", range(1, 101))
        _insert(butler, "u", range(1, 101))  # 2 000 rows: 20 times the 100 the statistics say, below STATS_ROWS
    assert _statistics.refresh_sqlite(conn, [TAGS]) == []  # below STATS_ROWS: never analyzed
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_statistics, "STATS_ROWS", 1000)
        assert _statistics.refresh_sqlite(conn, [TAGS, "dataset"]) == [TAGS]  # only tags tables
        assert _stat1(repo)[f"{TAGS}_visit"].split()[0] == "2000"
        assert _statistics.refresh_sqlite(conn, [TAGS]) == []  # 2 000 < 4 x 2 000
    conn.close()


def _large(root: Path) -> None:
    """Make ``root``'s registry look like the 10 M-dataset one to SQLite's planner."""
    conn = sqlite3.connect(root / "registry.sqlite3", isolation_level=None)
    conn.execute("ANALYZE sqlite_schema")
    conn.execute("DELETE FROM sqlite_stat1")
    conn.executemany("INSERT INTO sqlite_stat1 VALUES (?, ?, ?)", [(TAGS, idx, stat) for idx, stat in STAT1_10M])
    conn.close()


@pytest.fixture
def large(repo: Path) -> Iterator[DirectButler]:
    with DirectButler(repo, writeable=True) as butler:
        _insert(butler, "t", range(1, N_VISITS + 1))
    _large(repo)
    with DirectButler(repo) as butler:
        yield butler


def _plan(butler: DirectButler, where: str, rows: int) -> tuple[str, str]:
    """The SQL the query of ``where`` sends for its tags table, and SQLite's plan for it."""
    driver = butler.registry.db._driver()
    sent: list[str] = []
    driver.set_trace_callback(sent.append)
    try:
        assert len(list(butler.query_datasets("t", collections="bulk", where=where))) == rows
    finally:
        driver.set_trace_callback(None)
    (sql,) = [s for s in sent if TAGS in s]
    plan = " | ".join(row[3] for row in driver.execute(f"EXPLAIN QUERY PLAN {sql}"))
    return sql, plan


def test_with_statistics_a_narrow_visit_range_reads_the_visit_index(large: DirectButler) -> None:
    """At 10 M datasets: 1 % of the visits and 10 % of the detectors; the detector range read 10 % of the rows."""
    sql, plan = _plan(large, "instrument = 'Cam' AND visit <= 1 AND detector < 5", 5)
    assert "likelihood(t1.visit <= 1, 0.01)" in sql
    assert "likelihood(t1.detector < 5, 0.5)" in sql
    assert f"COVERING INDEX {TAGS}_visit (dataset_type_id=? AND collection_id=? AND instrument=? AND visit<?)" in plan
    # the other way round: 90 % of the visits, 10 % of the detectors
    sql, plan = _plan(large, "instrument = 'Cam' AND visit <= 90 AND 1 > detector", 90)
    assert "likelihood(1 > t1.detector, 0.1)" in sql  # reversed operands: the same share
    unique = f"INDEX sqlite_autoindex_{TAGS}_2 (dataset_type_id=? AND collection_id=? AND instrument=?"
    assert f"{unique} AND detector<?)" in plan


def test_with_statistics_a_detector_equality_reads_the_unique_key(large: DirectButler) -> None:
    """Without statistics SQLite scanned every dataset of the type through the covering visit index (93 ms)."""
    unique = f"INDEX sqlite_autoindex_{TAGS}_2 (dataset_type_id=? AND collection_id=? AND instrument=?"
    for where, rows in [("detector = 3", 100), ("detector IN (3, 4)", 200)]:
        sql, plan = _plan(large, f"instrument = 'Cam' AND {where}", rows)
        assert "likelihood" not in sql
        assert f"{unique} AND detector=?)" in plan


def test_calls_with_estimates_answer_for_their_own_values(large: DirectButler) -> None:
    """Their SQL depends on the values (the share), so they are not planned once per shape (`query._plans`)."""
    for last in (1, 50, 100, 1, 7):
        where = f"instrument = 'Cam' AND visit <= {last} AND detector < 2"
        assert len(list(large.query_datasets("t", collections="bulk", where=where))) == 2 * last
    rows = list(large.query_datasets("t", collections="bulk", where="visit > :v AND detector >= 9", bind={"v": 95}))
    assert sorted(r.data_id["visit"] for r in rows) == [96, 97, 98, 99, 100]


def test_estimates_are_shares_of_the_key_range(large: DirectButler) -> None:
    estimates = large.registry.estimates
    assert estimates.fraction("visit", "<=", 10) == 0.1
    assert estimates.fraction("visit", "<", 10) == 0.09
    assert estimates.fraction("visit", ">", 90) == 0.1
    assert estimates.fraction("visit", ">=", 1000) == _statistics._MIN_P
    assert estimates.fraction("detector", ">=", -5) == 1.0
    assert estimates.fraction("band", "<", 3) is None  # not an integer key
    assert estimates.fraction("exposure", "<", 3) is None  # no records


def test_a_small_repository_keeps_no_statistics_and_its_plans(repo: Path) -> None:
    with DirectButler(repo, writeable=True) as butler:
        _insert(butler, "t", range(1, N_VISITS + 1))
    assert _stat1(repo) == {}
    with DirectButler(repo) as butler:
        assert not butler.registry.estimates.active()
        sql, plan = _plan(butler, "instrument = 'Cam' AND visit <= 1 AND detector < 5", 5)
        assert "likelihood" not in sql
        assert f"sqlite_autoindex_{TAGS}_2" in plan  # SQLite's own choice, as before


def test_with_statistics_a_miss_still_reads_the_data_id_index(large: DirectButler) -> None:
    """The "where else is it?" branch of a miss (`registry._misses`, pinned without statistics too)."""
    registry = large.registry
    stored = registry.dataset_types.get("t")
    stmt, _ = registry.misses._statement(stored)
    bound = stmt.params(dt=stored.id, v_instrument="Cam", v_detector=1, v_visit=1)
    sql = bound.compile(registry.db.engine, compile_kwargs={"literal_binds": True})
    plan = [row[3] for row in registry.db._driver().execute(f"EXPLAIN QUERY PLAN {sql}")]
    scans = [line for line in plan if TAGS in line]
    assert scans, plan
    assert all(f"{TAGS}_data_id" in line for line in scans), plan


def test_a_shape_planned_before_statistics_gets_estimates_once_they_come(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_statistics, "STATS_ROWS", 1500)
    with DirectButler(repo, writeable=True) as butler:
        _insert(butler, "t", range(1, 51))  # 500 datasets: no statistics
        for _ in range(2):  # the second call runs on the shape's cached plan
            sql, _plan_text = _plan(butler, "instrument = 'Cam' AND visit <= 1 AND detector < 5", 5)
            assert "likelihood" not in sql
        _insert(butler, "u", range(1, 101))  # a bulk commit: the table holds 1 500, analyzed now
        assert butler.registry.db.analyzed == [TAGS]
        sql, _plan_text = _plan(butler, "instrument = 'Cam' AND visit <= 1 AND detector < 5", 5)
        assert "likelihood(t1.visit <= 1, 0.01)" in sql
