"""The whole conformance suite (`skybutler.testing.butler.ButlerTests`) on `DirectButler`, on SQLite and PostgreSQL.

The ``butler`` fixture is the suite's only input: a writeable butler with the sample instrument, writing into
``test/run``, made here with ``Butler(root, run=...)`` as a user would.  Other datastores run the data part of the
suite in tests/datastore/test_butler_suite.py; a remote client subclasses `ButlerTests` the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.testing.butler import ButlerTests
from skybutler.testing.fixtures import datastore_repo
from skybutler.testing.sample import populate_sample


class TestDirectButler(ButlerTests):
    @pytest.fixture
    def butler(
        self, request: pytest.FixtureRequest, registry_url: tuple[str, str | None], tmp_path: Path
    ) -> Iterator[Butler]:
        root = datastore_repo(request, registry_url, tmp_path / "repo", "file")
        with Butler(root, run="test/run") as butler:
            assert isinstance(butler, DirectButler)
            populate_sample(butler)
            yield butler


class TestDirectButlerOnS3(ButlerTests):
    """Files in a bucket of the loopback S3 server: the parts whose bytes go through the transport."""

    @pytest.fixture
    def butler(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Butler]:
        registry = (f"sqlite:///{tmp_path / 'registry.sqlite3'}", None)
        root = datastore_repo(request, registry, tmp_path / "repo", "s3")
        with Butler(root, run="test/run") as butler:
            populate_sample(butler)
            yield butler

    pytestmark = pytest.mark.s3
