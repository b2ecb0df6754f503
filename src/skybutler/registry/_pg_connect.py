"""PostgreSQL connections without set-up round trips: settings in the start-up packet, one engine per process.

Every statement sent on its own is a round trip to the server.  A connection's settings (the repository's
schema as ``search_path``; ``lock_timeout``, so that a writer behind another session's lock gives up after
the busy timeout, as on SQLite, instead of waiting forever) were four of them on every connection (``BEGIN``,
two ``SET``, ``COMMIT``); they go in the connection's start-up packet instead (libpq's ``options``), which the
server applies before answering the connection: none.

SQLAlchemy's dialect asks the server a few questions on an engine's first connection (its version, the
current schema, the isolation level, ``standard_conforming_strings``: six round trips with the transaction
around them; three more to look for the ``hstore`` extension, which the registry does not use and is not
asked for).  Opening a repository made it ask again each time, and `Butler.create` followed by opening the
repository twice: engines are kept per URL and settings for the life of the process, so the questions are
asked once.  With `sqlalchemy.pool.NullPool` an engine holds no connection of its own, so a kept engine
costs only its dialect (a few kilobytes); `sqlalchemy.engine.Engine.dispose` leaves it usable.
"""

from __future__ import annotations

import re
import threading

import sqlalchemy as sa

__all__ = ["pg_engine"]

_ENGINES: dict[tuple[str, str], sa.Engine] = {}
_LOCK = threading.Lock()
_PLAIN = re.compile(r"[a-z_][a-z0-9_]*\Z")


def pg_engine(url: str, schema: str | None, busy_timeout: float) -> sa.Engine:
    """The engine for a PostgreSQL registry at ``url`` (psycopg 3) whose connections use ``schema``.

    ``schema`` was checked to be a plain identifier (letters, digits, ``_``); one with capitals is quoted, so
    its case is kept as ``SET search_path TO "Name"`` kept it.
    """
    options = f"-c lock_timeout={max(1, int(busy_timeout * 1000))}"
    if schema is not None:  # quoted only if it must be (as the server shows it; a capital must stay one)
        options += f" -c search_path={schema if _PLAIN.match(schema) else chr(34) + schema + chr(34)}"
    given = sa.engine.make_url(url).query.get("options")  # the user's own options come first, and stay
    if given:
        options = " ".join([*([given] if isinstance(given, str) else given), options])
    key = (url, options)
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = sa.create_engine(
                url, poolclass=sa.pool.NullPool, use_native_hstore=False, connect_args={"options": options}
            )
            _ENGINES[key] = engine
    return engine
