"""`ButlerTests`, unchanged, against a remote butler on a live server: SQLite + files and PostgreSQL + S3."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from skybutler.client import RemoteButler
from skybutler.testing.butler import ButlerTests
from skybutler.testing.server import ServedRepo


class TestRemoteButler(ButlerTests):
    @pytest.fixture
    def butler(self, served: ServedRepo) -> Iterator[RemoteButler]:
        with served.remote(run="test/run") as butler:
            yield butler
