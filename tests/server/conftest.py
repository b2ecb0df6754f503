"""Fixtures of the remote butler's tests: a served repository on each back-end, and butlers on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler.testing.server import BACKENDS, ServedRepo, served_repo


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServedRepo]:
    """A live server on a new repository (SQLite + files, PostgreSQL + S3), with an admin token."""
    with served_repo(request, tmp_path, request.param) as repo:
        yield repo


@pytest.fixture
def served_files(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServedRepo]:
    """A live server on a new SQLite + files repository (tests of what the back-end does not change)."""
    with served_repo(request, tmp_path, "sqlite-file") as repo:
        yield repo
