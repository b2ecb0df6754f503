"""`ButlerTests`, unchanged, against a remote butler on a live server: SQLite + files and PostgreSQL + S3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybutler.butler import Butler
from skybutler.client import RemoteButler
from skybutler.testing.butler import ButlerTests
from skybutler.testing.server import ServedRepo, served_repo

#: What the remote butler refuses (with a clear error) and the suite therefore skips, with why.
REMOTE_LACKS = {
    "ingest": "the server cannot read the client's files",
    "export_import": "export and import run on the server's repository directly",
}


class TestRemoteButler(ButlerTests):
    unsupported = REMOTE_LACKS

    @pytest.fixture
    def butler(self, served: ServedRepo) -> Iterator[RemoteButler]:
        self.served = served
        with served.remote(run="test/run") as butler:
            yield butler

    def reopen(self, butler: Butler, **options: Any) -> Butler:
        return self.served.remote(**options)


class TestRemoteButlerWithoutFiles(ButlerTests):
    """Objects in memory (alone, and in front of files): their bytes go through the server."""

    unsupported = REMOTE_LACKS

    @pytest.fixture(params=["memory", "chained"])
    def butler(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RemoteButler]:
        with (
            served_repo(request, tmp_path, "sqlite-file", datastore=request.param) as served,
            served.remote(run="test/run") as butler,
        ):
            self.served = served
            yield butler

    def reopen(self, butler: Butler, **options: Any) -> Butler:
        return self.served.remote(**options)
