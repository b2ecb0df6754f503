"""`ButlerTests`, unchanged, against a remote butler on a live server: SQLite + files and PostgreSQL + S3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler.client import RemoteButler
from skybutler.testing.butler import ButlerTests
from skybutler.testing.server import ServedRepo, served_repo


class TestRemoteButler(ButlerTests):
    @pytest.fixture
    def butler(self, served: ServedRepo) -> Iterator[RemoteButler]:
        with served.remote(run="test/run") as butler:
            yield butler


class TestRemoteButlerWithoutFiles(ButlerTests):
    """Objects in memory (alone, and in front of files): their bytes go through the server."""

    @pytest.fixture(params=["memory", "chained"])
    def butler(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RemoteButler]:
        with (
            served_repo(request, tmp_path, "sqlite-file", datastore=request.param) as served,
            served.remote(run="test/run") as butler,
        ):
            yield butler
