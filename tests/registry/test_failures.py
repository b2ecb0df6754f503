"""The registry when PostgreSQL misbehaves (a killed backend) or a butler is used after close().

Each failure must surface as a `SkyButlerError` that says what to do, leave the registry and the files as they
were, and leave the same `Butler` usable for the next call.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from skybutler.butler import DirectButler
from skybutler.errors import StorageError
from skybutler.registry import Database
from skybutler.testing.fixtures import POSTGRES_URL, terminate_backend
from skybutler.testing.sample import populate_sample

GOOD = {"instrument": "Cam", "visit": 1, "detector": 2}


def _files(butler: DirectButler) -> list[str]:
    root = Path(butler.root)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "registry" not in p.name)


@pytest.fixture
def pg_butler(butler: DirectButler) -> DirectButler:
    """The ``butler`` fixture on PostgreSQL only, with dataset type ``meta``."""
    if butler.registry.db.dialect != "postgresql":
        pytest.skip("a killed server backend is a PostgreSQL situation")
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    return butler


def test_a_put_on_a_killed_backend_is_a_storage_error_and_the_next_put_works(pg_butler: DirectButler) -> None:
    pg_butler.put({"a": 1}, "meta", {**GOOD, "detector": 1})
    before = _files(pg_butler)
    terminate_backend(pg_butler.registry.db)
    with pytest.raises(StorageError, match=r"connection to the registry database was lost.*retry"):
        pg_butler.put({"a": 2}, "meta", GOOD)
    assert _files(pg_butler) == before  # the staged file was removed
    ref = pg_butler.put({"a": 2}, "meta", GOOD)  # the same DirectButler reconnects
    assert pg_butler.get(ref) == {"a": 2}


def test_a_query_on_a_killed_backend_is_a_storage_error_and_the_next_one_works(pg_butler: DirectButler) -> None:
    """A small query's one statement runs on the driver connection (`registry._small_reads`): a lost server is
    our error, and the butler reconnects, as after a put."""
    ref = pg_butler.put({"a": 1}, "meta", GOOD)
    for query in (
        lambda: list(pg_butler.query_datasets("meta", instrument="Cam")),  # one statement
        lambda: pg_butler.query_datasets("meta", instrument="Cam").count(),
    ):
        query()
        terminate_backend(pg_butler.registry.db)
        with pytest.raises(StorageError, match=r"connection to the registry database was lost.*retry"):
            query()
        assert query() in ([ref], 1)


def test_a_closed_butler_says_so_on_every_back_end(repo: str) -> None:
    with DirectButler(repo, run="test/run") as butler:
        butler.register_dataset_type("meta", ["instrument"], "StructuredDataDict")
    for call in (
        lambda: butler.registry.attributes(),
        lambda: butler.put({"a": 1}, "meta", instrument="Cam"),
        lambda: list(butler.query_datasets("meta", collections="test/run")),
    ):
        with pytest.raises(StorageError, match=r"registry connection is closed.*open a new Butler"):
            call()
    butler.close()  # closing twice is harmless


def test_a_lock_held_past_the_busy_timeout_is_a_storage_error_on_postgresql(repo: str) -> None:
    """registry.busy_timeout bounds the wait for another session's lock on PostgreSQL too (it waited forever)."""
    with DirectButler(repo, run="test/run", config={"registry": {"busy_timeout": 0.3}}) as butler:
        if butler.registry.db.dialect != "postgresql":
            pytest.skip("SQLite's busy timeout is tested with the SQLite engine")
        populate_sample(butler)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        before = _files(butler)
        other = Database(POSTGRES_URL, schema=butler.registry.db.schema)
        try:
            with other.transaction() as conn:  # another session holds the dataset table
                conn.execute(sa.text("LOCK TABLE dataset IN ACCESS EXCLUSIVE MODE"))
                with pytest.raises(StorageError, match="lock timeout"):
                    butler.put({"a": 1}, "meta", GOOD)
        finally:
            other.close()
        assert _files(butler) == before
        ref = butler.put({"a": 1}, "meta", GOOD)  # once the lock is gone
        assert butler.get(ref) == {"a": 1}
