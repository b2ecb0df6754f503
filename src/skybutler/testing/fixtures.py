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

import pytest

from skybutler.butler import Butler
from skybutler.testing.http import http_root
from skybutler.testing.s3 import s3_endpoint, s3_root
from skybutler.testing.sample import populate_sample
from skybutler.transports import Transport, open_transport

__all__ = [
    "POSTGRES_URL",
    "butler",
    "fresh_schema",
    "http_root",
    "populate_sample",
    "postgres_answers",
    "registry_url",
    "repo",
    "s3_endpoint",
    "s3_root",
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """A fresh registry location as ``(url, schema)``: a SQLite file, or a new schema in a real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.sqlite3'}", None
        return
    reason = postgres_answers(POSTGRES_URL)
    if reason is not None:
        message = f"no PostgreSQL at {POSTGRES_URL} ({reason}); set SKYBUTLER_TEST_POSTGRES_URL"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {message}")
        pytest.skip(message)
    with fresh_schema(POSTGRES_URL) as schema:
        yield POSTGRES_URL, schema


@pytest.fixture
def repo(request: pytest.FixtureRequest, registry_url: tuple[str, str | None], tmp_path: Path) -> str:
    """A new, empty repository (default universe) on each registry back-end; returns its root.

    With ``SKYBUTLER_TEST_DATASTORE=s3`` its files go to a fresh bucket on the loopback S3 server, so a whole
    suite that uses ``repo`` or ``butler`` runs against an S3 datastore.
    """
    url, schema = registry_url
    root = tmp_path / "repo"
    registry = None if url.startswith("sqlite") else url
    if os.environ.get("SKYBUTLER_TEST_DATASTORE") == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        return Butler.create(
            root,
            registry=registry,
            schema=schema,
            datastore=request.getfixturevalue("s3_root"),
            config={"datastore": {"transport": {"endpoint_url": endpoint}}},
        )
    return Butler.create(root, registry=registry, schema=schema)


@pytest.fixture(params=["local", "memory", pytest.param("s3", marks=pytest.mark.s3)])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Transport:
    """An empty transport root of each kind: local files, memory, and S3 (moto's server on loopback)."""
    if request.param == "local":
        return open_transport((tmp_path / "transport").as_uri())
    if request.param == "memory":
        return open_transport(f"mem://{uuid.uuid4().hex}/")
    return open_transport(request.getfixturevalue("s3_root"), endpoint_url=request.getfixturevalue("s3_endpoint"))


@pytest.fixture
def butler(repo: str) -> Iterator[Butler]:
    """A writeable butler on a new repository with the sample instrument, writing into run ``test/run``."""
    with Butler(repo, run="test/run") as b:
        populate_sample(b)
        yield b
