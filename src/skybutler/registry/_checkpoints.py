"""SQLite's write-ahead-log checkpoints after bulk commits, on a thread of their own (see `Checkpointer`)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

__all__ = ["Checkpointer"]


class Checkpointer:
    """Runs SQLite's WAL checkpoints on a thread of its own, with its own connection, after bulk commits.

    SQLite checkpoints in the commit that takes the write-ahead log past 1 000 pages: it copies those pages
    into the database file and, with ``synchronous=NORMAL``, syncs both files, all before the commit returns.
    After a bulk write (thousands of datasets, several MB of log) that is about a fifth of the call, and
    none of it needs the writer: a ``PASSIVE`` checkpoint from another connection copies what no reader
    still needs, beside readers and the next writer.  So bulk transactions switch the inline checkpoint off
    and leave it to this thread, as PostgreSQL leaves checkpoints to its checkpointer process; small
    transactions keep SQLite's own.  A checkpoint that cannot finish (busy) is simply taken up again by the
    next one, or by any connection's inline checkpoint.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.done = 0
        """Checkpoints run so far (for tests and diagnostics)."""

    def nudge(self) -> None:
        """Ask for a checkpoint soon (starts the thread on first use, and again in a forked child)."""
        if self._thread is None or not self._thread.is_alive():
            self._closing = False
            self._wake = threading.Event()  # not one another process's thread may have held
            self._thread = threading.Thread(target=self._run, name="skybutler-checkpoint", daemon=True)
            self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        wake = self._wake
        try:
            # rw: never create a database file (one moved or deleted since is simply not checkpointed)
            uri = Path(self._path).as_uri() + "?mode=rw"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return  # the writer's own connection checkpoints at its next small commit
        try:
            while True:
                wake.wait()
                wake.clear()
                if self._closing:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    continue  # left to the next checkpoint
                self.done += 1
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the thread once its checkpoint (if one runs) is done."""
        if self._thread is not None:
            self._closing = True
            self._wake.set()
            self._thread.join()
            self._thread = None
