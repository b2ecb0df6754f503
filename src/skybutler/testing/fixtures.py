"""Pytest fixtures for skybutler and for packages that extend it.

Use them with ``pytest_plugins = ["skybutler.testing.fixtures"]`` in a ``conftest.py``.
``registry_url`` runs a test on SQLite and on PostgreSQL (a fresh schema per test, dropped afterwards);
PostgreSQL comes from ``SKYBUTLER_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``):
without a server the PostgreSQL cases are skipped, except where ``CI`` is set, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from skybutler.butler import DirectButler
from skybutler.testing.http import http_root
from skybutler.testing.s3 import s3_endpoint, s3_root
from skybutler.testing.sample import populate_sample
from skybutler.transports import Transport, open_transport

if TYPE_CHECKING:
    from skybutler.registry import Database

__all__ = [
    "DATASTORE_KINDS",
    "POSTGRES_URL",
    "butler",
    "datastore_config",
    "fresh_schema",
    "http_root",
    "populate_sample",
    "postgres_answers",
    "registry_url",
    "repo",
    "require_postgres",
    "s3_endpoint",
    "s3_root",
    "terminate_backend",
    "transport",
]

POSTGRES_URL = os.environ.get("SKYBUTLER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

_answers: dict[str, str | None] = {}


def postgres_answers(url: str) -> str | None:
    """Return ``None`` when a PostgreSQL server answers at ``url``, else the reason it does not."""
    if url not in _answers:
        try:
            import sqlalchemy as sa

            from skybutler.registry import Database

            db = Database(url)
            with db.transaction(write=False) as conn:
                conn.execute(sa.text("SELECT 1"))
            db.close()
            _answers[url] = None
        except Exception as exc:  # any failure means "not usable here"
            _answers[url] = f"{type(exc).__name__}: {exc}"
    return _answers[url]


class fresh_schema:  # noqa: N801 (used like a function)
    """Context manager: a new, empty PostgreSQL schema name, dropped (with its tables) on exit."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"t_{uuid.uuid4().hex[:16]}"

    def __enter__(self) -> str:
        return self.name

    def __exit__(self, *exc: object) -> None:
        import sqlalchemy as sa

        from skybutler.registry import Database

        db = Database(self.url)
        with db.transaction() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
        db.close()


#: The datastore configurations `datastore_config` builds (and ``SKYBUTLER_TEST_DATASTORE`` accepts).
DATASTORE_KINDS = ("file", "s3", "memory", "chained", "chained-s3")


def require_postgres(url: str = POSTGRES_URL) -> None:
    """Skip the test when no PostgreSQL answers at ``url``, with the reason; fail instead where ``CI`` is set.

    CI must run every PostgreSQL test (its script starts the server), so there a missing server is a failure.
    """
    reason = postgres_answers(url)
    if reason is not None:
        message = f"no PostgreSQL at {url} ({reason}); set SKYBUTLER_TEST_POSTGRES_URL"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {message}")
        pytest.skip(message)


def terminate_backend(db: Database) -> None:
    """Kill the PostgreSQL server process of ``db``'s connection from another connection, as an operator would."""
    import sqlalchemy as sa

    from skybutler.registry import Database

    with db.transaction(write=False) as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    admin = Database(db.url)
    try:
        with admin.transaction() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.close()


def datastore_config(kind: str, s3_root: str | None = None, s3_endpoint: str | None = None) -> dict[str, Any]:
    """The ``datastore`` configuration of a test repository of each kind.

    ``file``: files at the repository root.  ``s3``: files on S3.  ``memory``: Python objects in this process.
    ``chained``: memory in front of files at the root (a put goes to both).  ``chained-s3``: a local copy at
    the root in front of S3.  The S3 kinds need ``s3_root`` and ``s3_endpoint``.
    """
    if kind == "file":
        return {}
    if kind == "memory":
        return {"type": "memory"}
    if kind == "chained":
        return {"type": "chained", "children": [{"name": "scratch", "type": "memory"}, {"name": "files"}]}
    if s3_root is None or s3_endpoint is None:
        raise ValueError(f"datastore kind {kind!r} needs s3_root and s3_endpoint")
    s3 = {"root": s3_root, "transport": {"endpoint_url": s3_endpoint}}
    if kind == "s3":
        return s3
    if kind == "chained-s3":
        return {"type": "chained", "children": [{"name": "local"}, {"name": "s3", **s3}]}
    raise ValueError(f"unknown datastore kind {kind!r}; known: {DATASTORE_KINDS}")


def datastore_repo(request: pytest.FixtureRequest, registry_url: tuple[str, str | None], root: Path, kind: str) -> str:
    """Create a repository at ``root`` with the registry of ``registry_url`` and a datastore of ``kind``."""
    url, schema = registry_url
    s3_root = s3_endpoint_ = None
    if "s3" in kind:
        s3_endpoint_ = request.getfixturevalue("s3_endpoint")
        s3_root = request.getfixturevalue("s3_root")
    config = {"datastore": datastore_config(kind, s3_root, s3_endpoint_)}
    return DirectButler.create(root, registry=None if url.startswith("sqlite") else url, schema=schema, config=config)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """A fresh registry location as ``(url, schema)``: a SQLite file, or a new schema in a real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.sqlite3'}", None
        return
    require_postgres()
    with fresh_schema(POSTGRES_URL) as schema:
        yield POSTGRES_URL, schema


@pytest.fixture
def repo(request: pytest.FixtureRequest, registry_url: tuple[str, str | None], tmp_path: Path) -> str:
    """A new, empty repository (default universe) on each registry back-end; returns its root.

    ``SKYBUTLER_TEST_DATASTORE`` picks another datastore (one of `DATASTORE_KINDS`; see `datastore_config`):
    ``s3`` puts its files in a fresh bucket on the loopback S3 server, ``memory`` keeps objects in memory,
    ``chained`` and ``chained-s3`` chain two children, so a whole suite that uses ``repo`` or ``butler`` runs
    against that datastore.
    """
    kind = os.environ.get("SKYBUTLER_TEST_DATASTORE", "file")
    return datastore_repo(request, registry_url, tmp_path / "repo", kind)


@pytest.fixture(params=["local", "memory", pytest.param("s3", marks=pytest.mark.s3)])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Transport:
    """An empty transport root of each kind: local files, memory, and S3 (moto's server on loopback)."""
    if request.param == "local":
        return open_transport((tmp_path / "transport").as_uri())
    if request.param == "memory":
        return open_transport(f"mem://{uuid.uuid4().hex}/")
    return open_transport(request.getfixturevalue("s3_root"), endpoint_url=request.getfixturevalue("s3_endpoint"))


@pytest.fixture
def butler(repo: str) -> Iterator[DirectButler]:
    """A writeable butler on a new repository with the sample instrument, writing into run ``test/run``."""
    with DirectButler(repo, run="test/run") as b:
        populate_sample(b)
        yield b
