"""A commit whose connection is lost: import, ingest and repo transfer answer as a put does.

Three real faults of a private PostgreSQL server (``initdb`` + ``pg_ctl``, never the shared one), each at
the commit of the transaction that registers the datasets:

- *saved*: a TCP relay in front of the server lets the ``COMMIT`` through and drops the connection before
  the reply: the server committed, the client only sees the connection break.  The operation must look,
  find its datasets and finish (promote its files): deleting them would leave registered datasets without
  files.
- *not saved*: the server restarts as the commit is sent: nothing was saved, the files must go.
- *cannot tell*: the server stops as the commit is sent and stays down: the files must stay, and reconcile
  (once the server is back) removes them.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.datastore import STAGING
from skybutler.errors import StorageError
from skybutler.registry import Database
from skybutler.testing.postgres_server import PrivatePostgres
from skybutler.testing.sample import populate_sample
from skybutler.transfer import FileDataset

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DIMS = ["instrument", "visit", "detector"]
N = 6


class CommitReplyDropper:
    """A TCP relay to a server that, once armed, passes one ``COMMIT`` on and closes that connection as the
    reply comes back: a network failure at the one moment where the server has committed and the client
    cannot know it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.armed = False
        self.dropped = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self._listener.getsockname()[1]}/postgres"

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.port))
            except OSError:  # the server is down: so is this connection
                client.close()
                continue
            commit_sent = threading.Event()
            for args in ((client, server, commit_sent, True), (server, client, commit_sent, False)):
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, commit_sent: threading.Event, to_server: bool) -> None:
        try:
            while data := src.recv(65536):
                if to_server and self.armed and b"COMMIT\x00" in data:  # a simple-query message
                    self.armed = False
                    commit_sent.set()
                elif not to_server and commit_sent.is_set():
                    self.dropped += 1
                    return  # the reply to the COMMIT is never relayed
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


@pytest.fixture
def relay(postgres: PrivatePostgres) -> Iterator[CommitReplyDropper]:
    relay = CommitReplyDropper(postgres.port)
    yield relay
    relay.close()


@pytest.fixture
def butler(relay: CommitReplyDropper, tmp_path: Path) -> Iterator[DirectButler]:
    """A repository on the private server, reached through the relay, with files on local disk."""
    root = Butler.create(tmp_path / "repo", registry=relay.url(), schema=f"t_{uuid.uuid4().hex[:12]}")
    with DirectButler(root, run="run1") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        yield butler


@contextmanager
def at_the_commit(db: Database, action: Callable[[], None], monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Run ``action`` once, as the first transaction that inserts datasets is about to commit (rows go by
    ``COPY``, which no SQLAlchemy event sees, or by ``INSERT``: both are watched)."""
    state = {"inserted": False}
    done: list[str] = []
    real_insert_many = db.insert_many

    def insert_many(conn: sa.Connection, t: sa.Table, columns: Sequence[str], rows: Any) -> None:
        state["inserted"] |= t.name == "dataset"
        real_insert_many(conn, t, columns, rows)

    def before_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        state["inserted"] |= statement.startswith(("INSERT INTO dataset ", 'INSERT INTO "dataset" '))

    def before_commit(conn: Any) -> None:
        if state["inserted"] and not done:
            done.append("COMMIT")
            action()

    monkeypatch.setattr(db, "insert_many", insert_many)
    sa.event.listen(db.engine, "before_cursor_execute", before_execute)
    sa.event.listen(db.engine, "commit", before_commit)
    try:
        yield done
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", before_execute)
        sa.event.remove(db.engine, "commit", before_commit)
        monkeypatch.undo()


def _files(butler: DirectButler) -> list[str]:
    transport = butler.datastore.files().transport
    return sorted(k for k in transport.keys() if not k.startswith("butler.yaml"))  # noqa: SIM118


def _source(tmp_path: Path) -> DirectButler:
    """A SQLite repository with ``N`` ``meta`` datasets in run ``src`` (for import and transfer)."""
    source = DirectButler(Butler.create(tmp_path / "source"), run="src")
    populate_sample(source)
    source.register_dataset_type("meta", DIMS, "StructuredDataDict")
    source.put_many([({"v": v}, {"instrument": "Cam", "visit": v, "detector": 1}) for v in range(N)], "meta")
    return source


def _operation(kind: str, butler: DirectButler, tmp_path: Path) -> Callable[[], object]:
    """The write of ``N`` datasets into run ``src`` by import, ingest or repo transfer."""
    if kind == "import":
        with _source(tmp_path) as source:
            source.export(tmp_path / "out" / "export.yaml", collections="src", directory=tmp_path / "out")
        return lambda: butler.import_(tmp_path / "out" / "export.yaml", directory=tmp_path / "out")
    if kind == "transfer":
        source = _source(tmp_path)
        refs = list(source.query_datasets("meta", collections="src"))
        return lambda: butler.transfer_from(source, refs)
    files = []
    (tmp_path / "in").mkdir()
    for v in range(N):
        path = tmp_path / "in" / f"m{v}.json"
        path.write_text(json.dumps({"v": v}))
        files.append(FileDataset(path, dataset_type="meta", data_id={"instrument": "Cam", "visit": v, "detector": 1}))
    return lambda: butler.ingest(*files, transfer="copy", run="src")


def _all_read_back(butler: DirectButler) -> None:
    got = [butler.get("meta", instrument="Cam", visit=v, detector=1, collections="src") for v in range(N)]
    assert got == [{"v": v} for v in range(N)]
    assert butler.verify().problems == 0
    assert not [k for k in _files(butler) if k.startswith(STAGING)]


OPERATIONS = ["import", "ingest", "transfer"]


@pytest.mark.parametrize("kind", OPERATIONS)
def test_a_commit_saved_before_the_connection_broke_finishes(
    butler: DirectButler, relay: CommitReplyDropper, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server committed; only its reply was lost: the operation looks, finds its datasets and promotes
    their files (before, an import or ingest deleted them, leaving registered datasets without files)."""
    operation = _operation(kind, butler, tmp_path)

    def arm() -> None:
        relay.armed = True

    with at_the_commit(butler.registry.db, arm, monkeypatch) as done:
        operation()
    assert done
    assert relay.dropped == 1  # the fault happened: the client never heard the commit's reply
    assert butler.registry.datasets.count() == N
    _all_read_back(butler)


@pytest.mark.parametrize("kind", OPERATIONS)
def test_a_commit_not_saved_removes_the_files(
    butler: DirectButler, postgres: PrivatePostgres, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    operation = _operation(kind, butler, tmp_path)
    before = _files(butler)
    with (
        at_the_commit(butler.registry.db, postgres.restart, monkeypatch) as done,
        pytest.raises(StorageError, match=rf"lost while committing the {kind}.*none of its {N} dataset"),
    ):
        operation()
    assert done
    assert butler.registry.datasets.count() == 0
    assert _files(butler) == before
    operation()  # the same DirectButler goes on
    _all_read_back(butler)


@pytest.mark.parametrize("kind", OPERATIONS)
def test_a_commit_that_cannot_be_told_keeps_the_files_for_reconcile(
    butler: DirectButler, postgres: PrivatePostgres, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    operation = _operation(kind, butler, tmp_path)
    before = _files(butler)
    try:
        with (
            at_the_commit(butler.registry.db, lambda: postgres.stop("immediate"), monkeypatch) as done,
            pytest.raises(StorageError, match=rf"(?s)may or may not.*{kind}'s files are kept.*reconcile"),
        ):
            operation()
        assert done
        kept = [k for k in _files(butler) if k not in before]
        assert len(kept) == N  # nothing deleted while the outcome is unknown
    finally:
        postgres.start()
    assert butler.registry.datasets.count() == 0  # the server went down before the commit reached it
    report = butler.reconcile(grace_seconds=0)
    assert sorted(report.removed_staging) == kept
    assert _files(butler) == before
    operation()
    _all_read_back(butler)


def test_a_put_sent_in_one_round_trip_whose_commit_reply_is_lost_finishes(
    butler: DirectButler, relay: CommitReplyDropper
) -> None:
    """A small put sends BEGIN, its inserts and COMMIT in one pipeline: the server commits, the reply is lost.
    The put looks, finds its datasets and promotes their files."""
    first = butler.put({"v": -1}, "meta", instrument="Cam", visit=N, detector=1)  # the run's first put: its record
    relay.armed = True
    refs = butler.put_many([({"v": v}, {"instrument": "Cam", "visit": v, "detector": 1}) for v in range(N)], "meta")
    assert relay.dropped == 1
    assert butler.registry.datasets.count() == N + 1
    assert butler.get_many([first, *refs]) == [{"v": -1}, *({"v": v} for v in range(N))]
    assert butler.verify().problems == 0
