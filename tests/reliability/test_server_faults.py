"""Faults of the servers: PostgreSQL restarted in the middle of a transaction, the S3 endpoint restarted in
the middle of a put_many.

Each fault must end the operation with our error (a `StorageError`), leave nothing half-registered (the
registry and the storage are checked afterwards) and leave the same Butler working once the server is back.
PostgreSQL runs as a private server of this module (``initdb`` + ``pg_ctl`` on a free port in a temporary
folder, `PrivatePostgres`), never the shared one; S3 runs as a moto server of each test's own.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import sqlalchemy as sa

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.datastore import STAGING
from skybutler.errors import StorageError
from skybutler.registry import Database, _engines
from skybutler.registry._pg_writes import PIPELINE_ROWS, commit_with_inserts
from skybutler.testing.postgres_server import PrivatePostgres
from skybutler.testing.s3 import MotoServer, new_bucket
from skybutler.testing.sample import populate_sample
from skybutler.transports._s3 import S3Transport

pytestmark = pytest.mark.slow

DIMS = ["instrument", "visit", "detector"]
LOST = r"(?s)connection to the registry database was lost.*nothing was changed.*retry"
BIG = PIPELINE_ROWS + 1
"""A put_many large enough to be sent statement by statement (a smaller one is one pipelined round trip)."""


def _items(visits: Sequence[int]) -> list[tuple[Any, dict[str, Any]]]:
    return [({"v": v}, {"instrument": "Cam", "visit": v, "detector": 1}) for v in visits]


def _files(butler: DirectButler) -> list[str]:
    """Every key of the datastore that is not the repository's own file (datasets' and staged ones)."""
    transport = butler.datastore.files().transport
    return sorted(k for k in transport.keys() if not k.startswith(("butler.yaml", "registry.sqlite3")))  # noqa: SIM118


# -- PostgreSQL -----------------------------------------------------------------------------------------------
@pytest.fixture
def pg_butler(postgres: PrivatePostgres, tmp_path: Path) -> Iterator[DirectButler]:
    """A repository on the private server (a fresh schema), with files on local disk."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    root = Butler.create(tmp_path / "repo", registry=postgres.url, schema=schema)
    with DirectButler(root, run="run1") as butler:
        populate_sample(butler, n_visits=BIG + 1)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        yield butler


@contextmanager
def restart_when(
    db: Database, postgres: PrivatePostgres, table: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """Restart the server (as a crash: ``immediate``) once, just before ``db`` writes rows into ``table``
    (``COMMIT``: just before the transaction commits).

    Rows go by ``COPY`` (`Database.insert_many`, which no SQLAlchemy event sees) or by ``INSERT``; both are
    watched.  Yields a list that holds the table's name once the restart happened.
    """
    done: list[str] = []

    def fire(name: str) -> None:
        if not done and name.startswith(table):
            done.append(name)
            postgres.restart("immediate")

    real_insert_many = db.insert_many

    def insert_many(conn: sa.Connection, t: sa.Table, columns: Sequence[str], rows: Any) -> None:
        fire(t.name)
        real_insert_many(conn, t, columns, rows)

    def before_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO "):
            fire(statement[len("INSERT INTO ") :].strip('"'))

    def before_commit(conn: Any) -> None:
        fire("COMMIT")

    def commit_with(database: Database) -> None:  # inserts sent with the COMMIT (`insert_at_commit`)
        for sql, _rows in database._at_commit:
            fire(sql[len("INSERT INTO ") :].strip('"'))
        fire("COMMIT")
        commit_with_inserts(database)

    monkeypatch.setattr(db, "insert_many", insert_many)
    monkeypatch.setattr(_engines, "commit_with_inserts", commit_with)
    sa.event.listen(db.engine, "before_cursor_execute", before_execute)
    sa.event.listen(db.engine, "commit", before_commit)
    try:
        yield done
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", before_execute)
        sa.event.remove(db.engine, "commit", before_commit)
        monkeypatch.undo()


LOOKED = r"lost while committing the put; after reconnecting, none of its {} dataset\(s\) is registered"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("table", "error", "n"),
    [
        ("dataset_tags", LOST, BIG),
        ("datastore_record", LOST, BIG),
        ("COMMIT", LOOKED.format(BIG), BIG),
        ("dataset_tags", f"{LOST}|{LOOKED.format(10)}", 10),  # seen as the statements are queued, or at the end
    ],
    ids=["tags", "records", "commit", "pipelined"],
)
def test_postgres_restarted_during_put_many(
    pg_butler: DirectButler, postgres: PrivatePostgres, monkeypatch: pytest.MonkeyPatch, table: str, error: str, n: int
) -> None:
    """The dataset rows are in, the tags (or artifact records) are not: the transaction dies with the server.
    Or the server dies as the commit is sent: the put looks, after reconnecting, whether it was saved.  A small
    put sends its statements and its COMMIT together (one round trip): lost there, it looks too."""
    pg_butler.put_many(_items([0]), "meta")
    before = _files(pg_butler)
    with (
        restart_when(pg_butler.registry.db, postgres, table, monkeypatch) as done,
        pytest.raises(StorageError, match=error),
    ):
        pg_butler.put_many(_items(range(1, n + 1)), "meta")
    assert done
    # nothing half-registered: the rows, the staged files and the final files are all as before
    assert pg_butler.registry.datasets.count() == 1
    assert _files(pg_butler) == before
    assert not [k for k in before if k.startswith(STAGING)]
    # the same Butler goes on
    refs = pg_butler.put_many(_items(range(1, n + 1)), "meta")
    assert pg_butler.get_many(refs) == [{"v": v} for v in range(1, n + 1)]
    assert pg_butler.verify().problems == 0


@pytest.mark.postgres
def test_postgres_restarted_during_an_import(
    pg_butler: DirectButler, postgres: PrivatePostgres, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with DirectButler(Butler.create(tmp_path / "source"), run="src") as source:
        populate_sample(source)
        source.register_dataset_type("meta", DIMS, "StructuredDataDict")
        source.put_many(_items(range(10)), "meta")
        source.export(tmp_path / "out" / "export.yaml", collections="src", directory=tmp_path / "out")
    before = _files(pg_butler)
    with (
        restart_when(pg_butler.registry.db, postgres, "datastore_record", monkeypatch) as done,
        pytest.raises(StorageError, match=LOST),
    ):
        pg_butler.import_(tmp_path / "out" / "export.yaml", directory=tmp_path / "out")
    assert done
    assert pg_butler.registry.datasets.count() == 0
    assert [c.name for c in pg_butler.collections.query("*")] == ["run1"]
    assert _files(pg_butler) == before  # the files brought in were removed again
    report = pg_butler.import_(tmp_path / "out" / "export.yaml", directory=tmp_path / "out")
    assert report.datasets == 10
    assert pg_butler.get("meta", instrument="Cam", visit=3, detector=1, collections="src") == {"v": 3}
    assert pg_butler.verify().problems == 0


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["dataset_calibs_", "COMMIT"], ids=["insert", "commit"])
def test_postgres_restarted_during_a_certify(
    pg_butler: DirectButler, postgres: PrivatePostgres, monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    """Certify appends rows in one transaction: the server dies before they are in, or as it commits (then
    a failed commit must not wedge the connection: the same DirectButler certifies next).  The rows go with
    the COMMIT, in one round trip (`Database.insert_at_commit`): a connection lost then may or may not have
    saved them, and certify says so."""
    error = r"(?s)lost while committing.*may or may not have been saved"
    pg_butler.register_dataset_type("flat", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
    refs = [pg_butler.put({"d": d}, "flat", instrument="Cam", detector=d) for d in (1, 2)]
    pg_butler.collections.register("calib", "CALIBRATION")
    pg_butler.collections.certify("calib", refs[:1], ("2025-01-01", "2025-02-01"))
    history = pg_butler.collections.history("calib", "flat")
    with (
        restart_when(pg_butler.registry.db, postgres, table, monkeypatch) as done,
        pytest.raises(StorageError, match=error),
    ):
        pg_butler.collections.certify("calib", refs, ("2025-02-01", "2025-03-01"))
    assert done
    assert pg_butler.collections.history("calib", "flat") == history  # no row appended, none closed
    pg_butler.collections.certify("calib", refs, ("2025-02-01", "2025-03-01"))
    got = pg_butler.get("flat", instrument="Cam", detector=2, collections="calib", at="2025-02-15")
    assert got == {"d": 2}


# -- S3 --------------------------------------------------------------------------------------------------------
@pytest.fixture
def moto(s3_endpoint: str) -> Iterator[MotoServer]:
    """A moto server of this test's own (``s3_endpoint`` only sets up credentials and the import check)."""
    own = MotoServer()
    own.start()
    yield own
    own.stop()


@pytest.fixture(params=[True, False], ids=["in-place", "staged"])
def s3_butler(request: pytest.FixtureRequest, moto: MotoServer, tmp_path: Path) -> Iterator[DirectButler]:
    options = {"endpoint_url": moto.endpoint, "max_attempts": 2, "conditional_writes": request.param}
    root = Butler.create(
        tmp_path / "repo",
        datastore=f"s3://{new_bucket(moto.endpoint)}/repo",
        config={"datastore": {"transport": options}},
    )
    with DirectButler(root, run="run1") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        yield butler


class Restarts(S3Transport):
    """The repository's S3 transport, which runs ``fault`` as its ``after``-th upload or move begins."""

    def __init__(self, original: S3Transport, after: int, fault: Callable[[], None], *, moves: bool = False) -> None:
        super().__init__(
            original.root,
            endpoint_url=original.endpoint_url,
            max_attempts=original.max_attempts,
            conditional_writes=original.can_create,
            max_concurrency=1,  # in order, so the fault comes at a known place
        )
        self.after, self.fault, self.moves = after, fault, moves
        self.count = 0

    def _tick(self) -> None:
        self.count += 1
        if self.count == self.after:
            self.fault()

    @contextmanager
    def open_create(self, key: str, *, owner: str | None = None) -> Iterator[BinaryIO]:
        if not self.moves:
            self._tick()
        with super().open_create(key, owner=owner) as f:
            yield f

    @contextmanager
    def open_write(self, key: str, *, atomic: bool = True) -> Iterator[BinaryIO]:
        if not self.moves:
            self._tick()
        with super().open_write(key, atomic=atomic) as f:
            yield f

    def move(self, src: str, dst: str) -> None:
        if self.moves:
            self._tick()
        super().move(src, dst)


@contextmanager
def _swapped(butler: DirectButler, transport: S3Transport) -> Iterator[None]:
    files = butler.datastore.files()
    original = files.transport
    files.transport = transport
    try:
        yield
    finally:
        files.transport = original


@pytest.mark.s3
def test_s3_restarted_during_put_many_then_the_cleanup_reaches_it(s3_butler: DirectButler, moto: MotoServer) -> None:
    """The server stops as the fourth upload starts and is back before the failed put cleans up: the three
    uploads that landed are deleted by the put itself, and reconcile finds nothing."""
    transport = s3_butler.datastore.files().transport
    assert isinstance(transport, S3Transport)
    before = _files(s3_butler)
    restarts = Restarts(transport, after=4, fault=moto.stop)
    real_delete_many = restarts.delete_many

    def delete_many(keys: Any) -> None:
        if restarts.count >= 4 and not back:  # back before the clean-up of the failed put
            back.append(moto.start())
        real_delete_many(keys)

    back: list[str] = []

    restarts.delete_many = delete_many  # type: ignore[method-assign]
    with _swapped(s3_butler, restarts), pytest.raises(StorageError, match=r"127\.0\.0\.1"):
        s3_butler.put_many(_items(range(10)), "meta")
    assert s3_butler.registry.datasets.count() == 0
    assert _files(s3_butler) == before
    report = s3_butler.reconcile(grace_seconds=0)
    assert (report.removed_staging, report.promoted, report.unknown) == ([], [], [])
    refs = s3_butler.put_many(_items(range(10)), "meta")
    assert s3_butler.get_many(refs) == [{"v": v} for v in range(10)]
    assert s3_butler.verify().problems == 0


@pytest.mark.s3
def test_s3_restarted_during_put_many_within_the_retry_budget(s3_butler: DirectButler, moto: MotoServer) -> None:
    """The server goes away as an upload starts and is back within the retries: the put_many succeeds whole."""
    transport = s3_butler.datastore.files().transport
    assert isinstance(transport, S3Transport)
    transport.max_attempts = 6  # 0.1 + 0.2 + 0.4 + ... s of back-off: more than the outage
    transport._store = None  # the client is made again with the new retry budget

    back = threading.Event()

    def outage() -> None:
        moto.stop()

        def start() -> None:
            moto.start()
            back.set()

        threading.Timer(0.2, start).start()

    with _swapped(s3_butler, Restarts(transport, after=4, fault=outage)):
        refs = s3_butler.put_many(_items(range(10)), "meta")
    assert back.is_set()  # the outage happened, and ended before the uploads' retries ran out
    assert s3_butler.get_many(refs) == [{"v": v} for v in range(10)]
    assert s3_butler.reconcile(grace_seconds=0).unknown == []
    assert s3_butler.verify().problems == 0


@pytest.mark.s3
@pytest.mark.parametrize("s3_butler", [False], ids=["staged"], indirect=True)
def test_s3_restarted_while_staged_files_are_promoted(s3_butler: DirectButler, moto: MotoServer) -> None:
    """Staged writes (no conditional PUT; in-place writes move nothing after registering): the datasets are
    registered when a move fails; the error says to reconcile, which finishes the moves once the server is
    back, and every dataset reads back."""
    transport = s3_butler.datastore.files().transport
    assert isinstance(transport, S3Transport)
    assert not transport.can_create
    restarts = Restarts(transport, after=4, fault=moto.stop, moves=True)
    with _swapped(s3_butler, restarts), pytest.raises(StorageError, match=r"(?s)registered.*reconcile"):
        s3_butler.put_many(_items(range(10)), "meta")
    moto.start()
    assert s3_butler.registry.datasets.count() == 10
    report = s3_butler.reconcile(grace_seconds=0)
    assert (len(report.promoted), report.missing, report.unknown) == (7, [], [])
    assert sorted(s3_butler.get("meta", instrument="Cam", visit=v, detector=1)["v"] for v in range(10)) == list(
        range(10)
    )
    assert s3_butler.verify().problems == 0
    assert not [k for k in _files(s3_butler) if k.startswith(STAGING)]
