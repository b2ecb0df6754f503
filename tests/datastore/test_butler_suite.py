"""The data part of `ButlerTests` on every kind of datastore: files, S3, objects in memory, and chains of them.

The whole suite runs on the default (file) datastore in tests/butler/test_conformance.py; here the part whose
outcome depends on where the bytes go (put, get, components, remove, storage checks) runs on every other kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler import Butler
from skybutler.testing.butler import ButlerDataTests
from skybutler.testing.fixtures import datastore_repo
from skybutler.testing.sample import populate_sample

KINDS = [
    "file",
    "memory",
    "chained",
    pytest.param("s3", marks=pytest.mark.s3),
    pytest.param("chained-s3", marks=pytest.mark.s3),
]


class TestButler(ButlerDataTests):
    @pytest.fixture(params=KINDS)
    def butler(
        self, request: pytest.FixtureRequest, registry_url: tuple[str, str | None], tmp_path: Path
    ) -> Iterator[Butler]:
        root = datastore_repo(request, registry_url, tmp_path / "repo", request.param)
        with Butler(root, run="test/run") as butler:
            populate_sample(butler)
            yield butler
