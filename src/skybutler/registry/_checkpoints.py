"""SQLite's write-ahead-log checkpoints after bulk commits, on a thread of their own (see `Checkpointer`)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

__all__ = ["WAL_BOUND", "Checkpointer"]

WAL_BOUND = 256 * 2**20
"""Bytes of write-ahead log past which a bulk commit checkpoints and truncates it inline (see `after_bulk_commit`)."""


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

    def __init__(self, path: str, busy_ms: int = 60_000) -> None:
        self._path = path
        self.busy_ms = busy_ms
        """The writer's own busy timeout, restored after an inline checkpoint."""
        self.wal_bound = WAL_BOUND
        self.wait_ms = 2_000
        """How long an inline checkpoint waits for readers on older pages before leaving it to the next one."""
        self.truncated = 0
        """Inline TRUNCATE checkpoints run so far."""
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.done = 0
        """Checkpoints run so far (for tests and diagnostics)."""

    def after_bulk_commit(self, writer: Any) -> None:
        """After a bulk commit on ``writer`` (the driver connection): keep the write-ahead log bounded.

        The background checkpoint is PASSIVE: while a bulk load goes on, the next batch's writer usually starts
        before it has copied every page back, so SQLite cannot start the log over and appends instead; nor does
        it ever shrink the file. At 3 million datasets the log had grown to 9 GB beside a 1.1 GB database, and a
        10-million build filled the disk (issue 26 part 5). So once the log passes `wal_bound` bytes, the writer
        itself runs a ``TRUNCATE`` checkpoint between batches: it copies the log back, waits (at most
        ``wait_ms``) for readers still on older pages, and empties the file. Below the bound, the thread does it.
        """
        try:
            size = Path(self._path + "-wal").stat().st_size
        except OSError:
            size = 0
        if size <= self.wal_bound:
            self.nudge()
            return
        writer.execute(f"PRAGMA busy_timeout = {self.wait_ms}")
        try:
            # (busy, log pages, checkpointed): busy when the thread's own checkpoint or a reader held it up;
            # then the log is not emptied, and the thread or the next bulk commit takes it up again
            busy = writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if busy:
                self.nudge()
            else:
                self.truncated += 1
        except sqlite3.Error:
            self.nudge()
        finally:
            writer.execute(f"PRAGMA busy_timeout = {self.busy_ms}")

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
