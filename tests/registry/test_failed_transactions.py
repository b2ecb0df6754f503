"""A transaction that fails anywhere (a statement, the commit, the rollback) must not wedge the Butler.

Issue 17 item 4: after one commit failed with an I/O error (a full disk, a file-size limit), every later call
raised SQLAlchemy's "This connection has already initialized a SQLAlchemy Transaction()", even once the disk had
room again.  Each test makes a real fault, checks that it surfaces as our error with nothing changed, and that the
same Butler (and the same `Database`) works for the next call.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from skybutler.butler import DirectButler
from skybutler.errors import ConflictError
from skybutler.registry import Database, LostCommitError
from skybutler.testing.fixtures import terminate_backend

GOOD = {"instrument": "Cam", "visit": 1, "detector": 2}


class AbortError(Exception):
    """Raised by a test to abandon a transaction half-way."""


@pytest.fixture
def meta_butler(butler: DirectButler) -> DirectButler:
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    return butler


def _deferred_table(db: Database) -> None:
    """A table whose foreign key is checked only at COMMIT (SQLite and PostgreSQL both defer it)."""
    with db.transaction() as conn:
        conn.execute(sa.text("CREATE TABLE parent_t (id INTEGER PRIMARY KEY)"))
        conn.execute(
            sa.text(
                "CREATE TABLE child_t (id INTEGER PRIMARY KEY, "
                "parent INTEGER REFERENCES parent_t (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )


def _rows(db: Database, table: str) -> int:
    with db.transaction(write=False) as conn:
        return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def _insert_orphan(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(sa.text("INSERT INTO parent_t (id) VALUES (1)"))
        conn.execute(sa.text("INSERT INTO child_t (id, parent) VALUES (1, 99)"))  # fails only at commit


def test_a_commit_refused_by_a_deferred_constraint_leaves_the_butler_usable(meta_butler: DirectButler) -> None:
    db = meta_butler.registry.db
    _deferred_table(db)
    for _ in range(2):  # twice: the second failure must not see the first one's transaction
        with pytest.raises(ConflictError, match="refused the change"):
            _insert_orphan(db)
    assert _rows(db, "parent_t") == 0  # the whole transaction was rolled back
    ref = meta_butler.put({"a": 1}, "meta", GOOD)
    assert meta_butler.get(ref) == {"a": 1}


def _insert_then_lose_the_server(db: Database, error: type[Exception], *, fail: bool = False) -> None:
    """Insert a row, kill the server process, then end the block normally (commit) or with ``error``."""
    with db.transaction() as conn:
        conn.execute(sa.text("INSERT INTO parent_t (id) VALUES (1)"))
        terminate_backend(db)  # the statement ran; the commit (or the rollback) finds the server process gone
        if fail:
            raise error


def _postgres_only(butler: DirectButler) -> Database:
    if butler.registry.db.dialect != "postgresql":
        pytest.skip("a killed server backend is a PostgreSQL situation")
    return butler.registry.db


def test_a_connection_lost_before_commit_is_our_error_and_the_next_call_reconnects(meta_butler: DirectButler) -> None:
    db = _postgres_only(meta_butler)
    _deferred_table(db)
    with pytest.raises(LostCommitError, match="lost while committing"):
        _insert_then_lose_the_server(db, AbortError)
    assert _rows(db, "parent_t") == 0
    ref = meta_butler.put({"a": 1}, "meta", GOOD)
    assert meta_butler.get(ref) == {"a": 1}


def test_a_failed_rollback_leaves_the_butler_usable(meta_butler: DirectButler) -> None:
    """The block fails after the server process died: its rollback fails too; the block's error still wins."""
    db = _postgres_only(meta_butler)
    _deferred_table(db)
    with pytest.raises(AbortError):
        _insert_then_lose_the_server(db, AbortError, fail=True)
    assert _rows(db, "parent_t") == 0
    ref = meta_butler.put({"a": 1}, "meta", GOOD)
    assert meta_butler.get(ref) == {"a": 1}


_FULL_DISK = """
import resource, signal, sys
from skybutler.butler import Butler
from skybutler.errors import StorageError
from skybutler.testing.sample import populate_sample

root = Butler.create(sys.argv[1])
with Butler(root, run="setup") as b:
    populate_sample(b)
    b.register_dataset_type("blob", ["instrument", "visit", "detector"], "Bytes")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
b = Butler(root, run="full")
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
for k in range(8):
    if k == 2:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, hard))  # the disk fills up
    if k == 5:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space is back
    try:
        b.put(b"x" * (60_000 if 2 <= k < 5 else 100), "blob", instrument="Cam", visit=k, detector=0)
        print(k, "ok")
    except StorageError as exc:
        print(k, "StorageError")
print("found", sorted(r.data_id["visit"] for r in b.query_datasets("blob", collections="full")))
"""


def test_a_commit_that_fails_on_a_full_disk_leaves_the_butler_usable(tmp_path: Path) -> None:
    """SQLite: a file-size limit (in a child process, like a full disk) fails the commit of a put."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FULL_DISK), str(tmp_path / "repo")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["0 ok", "1 ok"]
    assert "StorageError" in " ".join(lines[2:5])  # the limit fails at least the puts that grow the WAL
    assert lines[5:8] == ["5 ok", "6 ok", "7 ok"]  # the same Butler works once there is room again
    found = [int(v) for v in lines[8].removeprefix("found [").removesuffix("]").split(", ")]
    assert {0, 1, 5, 6, 7} <= set(found)
    failed = {k for k in range(2, 5) if lines[k] == f"{k} StorageError"}
    assert not failed & set(found)  # a failed put registered nothing
