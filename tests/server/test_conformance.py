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

#: What the remote butler refuses (with a clear error) and the suite therefore skips, with why: nothing, on a
#: repository with files (ingest and import upload the client's files to a pending area first).
REMOTE_LACKS: dict[str, str] = {}

#: A repository that keeps objects in memory only has nowhere to stage uploaded files (a direct butler on
#: it refuses ingest too); a chain with a file child could, but the suite's class declares one set for both.
WITHOUT_FILES_LACKS = {
    "ingest": "uploaded files are staged in a file datastore, which a memory-only repository lacks",
    "export_import": "an import's archive is staged in a file datastore, which a memory-only repository lacks",
    "transfer": "a transfer's files are staged in (or read from) a file datastore, which a memory-only one lacks",
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

    unsupported = WITHOUT_FILES_LACKS

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
