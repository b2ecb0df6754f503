"""Reads in the fewest round trips (issue 26 part 2): every statement counted, on SQLite and PostgreSQL.

On PostgreSQL each statement is a round trip, and a read of one statement needs no BEGIN and COMMIT around it.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from tests.registry._statements import round_trips, statements

from skybutler.butler import DirectButler
from skybutler.datasets import DatasetRef
from skybutler.errors import ConflictError, DatasetNotFoundError


@pytest.fixture
def stored(butler: DirectButler) -> list[DatasetRef]:
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    refs = [butler.put({"v": v}, "meta", instrument="Cam", visit=v, detector=1) for v in range(3)]
    butler.get(refs[0])  # statements compiled, collections cached: what follows is the steady state
    butler.get("meta", refs[0].data_id)
    return refs


def test_get_of_a_ref_is_one_statement(butler: DirectButler, stored: list[DatasetRef]) -> None:
    with statements(butler.registry.db) as sent:
        assert butler.get(stored[1]) == {"v": 1}
    assert len(sent) == 1, sent  # no BEGIN/COMMIT on PostgreSQL; one cached SELECT (was ~1 ms: a new IN each call)
    assert sent[0].lstrip().upper().startswith("SELECT")


def test_get_by_data_id_is_one_statement(butler: DirectButler, stored: list[DatasetRef]) -> None:
    with statements(butler.registry.db) as sent:
        assert butler.get("meta", instrument="Cam", visit=2, detector=1) == {"v": 2}
    assert len(sent) == 1, sent


def test_a_miss_sends_no_transaction_boundaries(butler: DirectButler, stored: list[DatasetRef]) -> None:
    with statements(butler.registry.db) as sent, pytest.raises(DatasetNotFoundError):
        butler.get("meta", instrument="Cam", visit=7, detector=1)
    assert not [s for s in sent if s.split()[0].upper() in ("BEGIN", "COMMIT")], sent
    assert len(sent) <= MISS_STATEMENTS, sent


#: Statements of a get that finds nothing: the find, then one statement with all that explains what is missing
#: (`registry._misses`). Was 7 statements, and 21 round trips on PostgreSQL (each read in BEGIN/COMMIT).
MISS_STATEMENTS = 2


def test_a_miss_says_which_record_is_unknown_with_a_hint(butler: DirectButler, stored: list[DatasetRef]) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"No visit record for .*Known visit values for .*: 0, 1, 2, .*"):
        butler.get("meta", instrument="Cam", visit=77, detector=1)
    with pytest.raises(DatasetNotFoundError, match=r"No detector record for .*Known detector values"):
        butler.get("meta", instrument="Cam", visit=1, detector=99)


def test_a_miss_names_the_collections_that_hold_it(butler: DirectButler, stored: list[DatasetRef]) -> None:
    butler.collections.register("other")
    with pytest.raises(DatasetNotFoundError, match=r"It exists in \['test/run'\]"):
        butler.get("meta", instrument="Cam", visit=1, detector=1, collections="other")


# -- PostgreSQL: round trips on the wire (libpq's trace), whatever path sent them ----------------------------


#: Runs a test on PostgreSQL only: round trips on the wire are a PostgreSQL matter (SQLite runs in-process).
on_postgres = pytest.mark.parametrize(
    "registry_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def pg(butler: DirectButler, stored: list[DatasetRef]) -> DirectButler:
    assert butler.registry.db.dialect == "postgresql"
    return butler


@on_postgres
def test_postgres_put_is_one_round_trip(pg: DirectButler) -> None:
    with round_trips(pg.registry.db) as trips:
        pg.put({"v": 10}, "meta", instrument="Cam", visit=10, detector=1)
    assert len(trips) == 1, trips  # BEGIN, three INSERTs and COMMIT in one pipeline (was 5: three COPYs)
    assert trips[0].startswith("BEGIN"), trips
    assert trips[0].endswith("COMMIT"), trips


@on_postgres
def test_postgres_put_with_inputs_is_one_round_trip(pg: DirectButler, stored: list[DatasetRef]) -> None:
    pg.put({"v": 12}, "meta", instrument="Cam", visit=12, detector=1, inputs=stored)  # the steady state follows
    with round_trips(pg.registry.db) as trips:
        out = pg.put({"v": 13}, "meta", instrument="Cam", visit=13, detector=1, inputs=stored)
    assert len(trips) == 1, trips  # the edges ride in the put's pipeline (was 5: they had a transaction of their own)
    assert trips[0].startswith("BEGIN"), trips
    assert trips[0].endswith("COMMIT"), trips
    assert {n.id for n in pg.lineage(out)} == {r.id for r in stored}


@on_postgres
def test_postgres_put_with_an_unknown_input_is_refused_whole(pg: DirectButler, stored: list[DatasetRef]) -> None:
    """The edge of an unregistered input is refused in the pipeline (its input ID would be NULL): the put's
    rows go too, and a read then names the input."""
    count, edges = pg.registry.datasets.count(), pg.registry.lineage.all_edges()
    ghost = uuid.uuid4()
    with round_trips(pg.registry.db) as trips, pytest.raises(DatasetNotFoundError, match=str(ghost)):
        pg.put({"v": 14}, "meta", instrument="Cam", visit=14, detector=1, inputs=[stored[0], ghost])
    assert trips[0].startswith("BEGIN"), trips  # the put's one round trip, its edges in it
    assert "INSERT INTO dataset_input" in trips[0], trips
    assert any(t.startswith("SELECT d.id, t.name") for t in trips[1:]), trips  # then the read that names the input
    assert (pg.registry.datasets.count(), pg.registry.lineage.all_edges()) == (count, edges)
    assert pg.find_dataset("meta", instrument="Cam", visit=14, detector=1) is None


@on_postgres
def test_postgres_small_put_many_is_one_round_trip(pg: DirectButler) -> None:
    with round_trips(pg.registry.db) as trips:
        pg.put_many([({"v": v}, {"instrument": "Cam", "visit": v, "detector": 2}) for v in range(20)], "meta")
    assert len(trips) == 1, trips


@on_postgres
def test_postgres_get_and_miss_round_trips(pg: DirectButler, stored: list[DatasetRef]) -> None:
    with round_trips(pg.registry.db) as trips:
        assert pg.get(stored[1]) == {"v": 1}
    assert len(trips) == 1, trips
    with round_trips(pg.registry.db) as trips:
        assert pg.get("meta", instrument="Cam", visit=2, detector=1) == {"v": 2}
    assert len(trips) == 1, trips
    with round_trips(pg.registry.db) as trips, pytest.raises(DatasetNotFoundError, match="No visit record"):
        pg.get("meta", instrument="Cam", visit=77, detector=1)
    assert len(trips) == 2, trips  # the find, then one statement that explains (was 21, then 7)


@on_postgres
def test_postgres_pipelined_put_is_all_or_nothing(pg: DirectButler, stored: list[DatasetRef]) -> None:
    """The second dataset's tags row is refused (its data ID is taken): the first one's rows go too, the error
    says which data ID, and the connection goes on."""
    count = pg.registry.datasets.count()
    items = [({"v": 11}, {"instrument": "Cam", "visit": 11, "detector": 1}), ({"v": 0}, stored[0].data_id)]
    with round_trips(pg.registry.db) as trips, pytest.raises(ConflictError, match="already has a 'meta' dataset"):
        pg.put_many(items, "meta")
    assert trips, trips
    assert trips[0].startswith("BEGIN"), trips
    assert pg.registry.datasets.count() == count
    assert pg.find_dataset("meta", instrument="Cam", visit=11, detector=1) is None
    assert pg.get(pg.put({"v": 11}, "meta", instrument="Cam", visit=11, detector=1)) == {"v": 11}


# -- PostgreSQL queries: one statement for a small result, a server-side cursor for a large one ---------------


def _queries(butler: DirectButler) -> dict[str, Any]:
    """Calls whose results are the three ``meta`` datasets (or their data IDs) of `stored`."""
    return {
        "datasets": lambda: list(butler.query_datasets("meta", instrument="Cam", where="visit >= 0")),
        "data IDs": lambda: list(butler.query_data_ids(["visit", "detector"], datasets="meta", instrument="Cam")),
        "a shape never seen": lambda: list(butler.query_datasets("meta", where=f"detector = 1 AND visit < {next(_n)}")),
    }


_n = itertools.count(100)


@on_postgres
def test_postgres_small_query_is_one_round_trip(pg: DirectButler) -> None:
    """A query of a few rows is one statement with no BEGIN and COMMIT (was 8: BEGIN, DECLARE, FETCH 1, FETCH 999,
    FETCH 1000, CLOSE, COMMIT, and a governor look-up sent twice)."""
    for name, call in _queries(pg).items():
        call()
        call()  # planned, statements prepared
        with round_trips(pg.registry.db) as trips:
            assert len(call()) == 3, name
        assert len(trips) == (2 if name == "a shape never seen" else 1), (name, trips)  # + the instrument look-up
        assert not [t for t in trips if "DECLARE" in t or "BEGIN" in t], trips
    results = pg.query_datasets("meta", instrument="Cam")
    for check, expected in ((results.count, 3), (results.any, True)):
        with round_trips(pg.registry.db) as trips:
            assert check() == expected
        assert len(trips) == 1, trips  # one statement for every dataset type (was BEGIN, a SELECT per type, COMMIT)


@on_postgres
def test_postgres_large_result_is_streamed_through_a_cursor(pg: DirectButler) -> None:
    """Past `Database.small_rows` rows the query streams through a server-side cursor, whole, and a registry call
    made while iterating works (the cursor's transaction is joined)."""
    db = pg.registry.db
    db.small_rows = 2  # the three datasets are a large result
    for name, call in _queries(pg).items():
        for _ in range(2):  # built, then planned
            with round_trips(db) as trips:
                assert len(call()) == 3, name
            assert [t for t in trips if "DECLARE" in t], (name, trips)
    with round_trips(db) as trips:
        got = [pg.get(ref) for ref in pg.query_datasets("meta", instrument="Cam")]
    assert sorted(g["v"] for g in got) == [0, 1, 2]
    assert [t for t in trips if "DECLARE" in t], trips
    with round_trips(db) as trips:  # a limit of its own within the cap: one statement
        assert len(list(pg.query_datasets("meta", instrument="Cam", limit=2))) == 2
    assert len(trips) == 1, trips
    assert len(list(pg.query_datasets("meta", instrument="Cam", limit=3))) == 3  # past the cap: the cursor


@on_postgres
def test_postgres_small_result_leaves_the_connection_free(pg: DirectButler) -> None:
    """Rows of a small result are all received before the first one is used: a get inside the loop, a result
    left half-read, then a write, all work."""
    got = [pg.get(ref) for ref in pg.query_datasets("meta", instrument="Cam")]
    assert sorted(g["v"] for g in got) == [0, 1, 2]
    assert next(iter(pg.query_datasets("meta", instrument="Cam"))).dataset_type.name == "meta"  # left half-read
    ref = pg.put({"v": 12}, "meta", instrument="Cam", visit=12, detector=1)
    assert pg.get(ref) == {"v": 12}


@on_postgres
def test_postgres_ordered_and_limited_results_keep_their_order(pg: DirectButler) -> None:
    """A query's own ORDER BY and LIMIT hold on every path: built or planned (the plan's SQL text has its own
    LIMIT: the probe's goes around it), one statement or the cursor."""
    for small_rows in (10_000, 1):
        pg.registry.db.small_rows = small_rows
        for planned in (False, True):
            with round_trips(pg.registry.db) as trips:
                results = pg.query_datasets("meta", instrument="Cam", order_by=["-visit"], limit=2)
                refs = list(results)
            assert [r.data_id["visit"] for r in refs] == [2, 1], small_rows
            assert results.planned == planned or small_rows == 1  # the shape is planned since the first round
            assert len(trips) == 1 if small_rows > 2 else len(trips) > 1, trips
