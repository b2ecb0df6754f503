"""A repository served by a live server on loopback, for the remote butler's tests and benchmarks.

`served_repo` makes a repository (SQLite + files, or PostgreSQL + S3 on the moto server), fills in the sample
instrument, makes an ``admin`` token, and runs `skybutler.server.ServerThread` on ``127.0.0.1`` and a free
port.  `ServedRepo.remote` opens a `RemoteButler` on it with any token.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from skybutler.butler import Butler, DirectButler
from skybutler.testing.fixtures import POSTGRES_URL, datastore_config, fresh_schema, require_postgres
from skybutler.testing.sample import populate_sample

if TYPE_CHECKING:
    from pathlib import Path

    from skybutler.client import RemoteButler
    from skybutler.server import ServerThread

__all__ = ["BACKENDS", "ServedRepo", "served_repo"]

BACKENDS = ["sqlite-file", pytest.param("postgres-s3", marks=[pytest.mark.postgres, pytest.mark.s3])]
"""The two deployments the remote butler is tested on: a laptop's and a site's."""


@dataclass
class ServedRepo:
    """A live server on a repository, and its admin token."""

    root: str
    server: ServerThread
    admin_token: str

    @property
    def url(self) -> str:
        """The server's URL."""
        return self.server.url

    def token(self, user: str, grants: Sequence[str], **options: Any) -> str:
        """A new token of ``user`` with ``grants``."""
        with DirectButler(self.root, writeable=True) as butler:
            return butler.registry.tokens.create(user, grants, **options)[0]

    def remote(self, token: str | None = None, **options: Any) -> RemoteButler:
        """A remote butler on the server (default: with the admin token)."""
        from skybutler.client import RemoteButler

        return RemoteButler(self.url, token=self.admin_token if token is None else token, **options)

    def local(self, **options: Any) -> DirectButler:
        """A local butler on the same repository (to look behind the server's back)."""
        return DirectButler(self.root, writeable=True, **options)


@contextmanager
def served_repo(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, *, datastore: str | None = None, **server_options: Any
) -> Iterator[ServedRepo]:
    """A served repository on ``backend`` (``sqlite-file`` or ``postgres-s3``) for the length of the block.

    ``datastore`` names another datastore kind of `datastore_config` (``memory``, ``chained``) than the backend's.
    """
    from skybutler.server import ServerConfig, ServerThread

    with _registry(backend, tmp_path) as (url, schema):
        config: dict[str, Any] = {} if datastore is None else datastore_config(datastore)
        if backend != "sqlite-file":  # any fixture scope: the endpoint is the session's, the bucket new
            from skybutler.testing.s3 import new_bucket

            endpoint = request.getfixturevalue("s3_endpoint")
            config = datastore_config("s3", f"s3://{new_bucket(endpoint)}/repo/", endpoint)
        root = Butler.create(
            tmp_path / "repo",
            registry=None if url.startswith("sqlite") else url,
            schema=schema,
            config={"datastore": config},
        )
        with DirectButler(root, writeable=True) as butler:
            populate_sample(butler)
            admin = butler.registry.tokens.create("admin", ["admin"])[0]
        with ServerThread(ServerConfig(root, **server_options)) as server:
            yield ServedRepo(root, server, admin)


@contextmanager
def _registry(backend: str, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    if backend == "sqlite-file":
        yield f"sqlite:///{tmp_path / 'registry.sqlite3'}", None
        return
    require_postgres()
    with fresh_schema(POSTGRES_URL) as schema:
        yield POSTGRES_URL, schema
