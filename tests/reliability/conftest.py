"""The standing reliability suite (issue 17): crashes, concurrent writers, races, collisions, fuzzing, server faults.

Every module here is marked ``slow`` and runs on SQLite and PostgreSQL (``registry_url``) and, where storage
is involved, on local files and S3 (moto's server on loopback).  The whole directory has a budget of 8 minutes
in CI on two cores, so kill counts (``SKYBUTLER_CRASH_KILLS``, 2 per case by default) and hypothesis examples
are bounded; the longer soak is ``benchmarks/soak.py``.  Seeds are fixed, so a failure reproduces
(``SKYBUTLER_CRASH_SEED`` changes them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybutler.testing.fixtures import datastore_config
from skybutler.testing.postgres_server import PrivatePostgres, find_postgres_bin


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/reliability is ``slow`` (the inner loop runs ``-m "not slow"``)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def storage(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The datastore configuration a test names (indirectly): ``local`` files under the root, or a new S3 bucket."""
    if request.param == "local":
        return datastore_config("file")
    return datastore_config("s3", request.getfixturevalue("s3_root"), request.getfixturevalue("s3_endpoint"))


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of the module's own (``initdb`` + ``pg_ctl`` on a free port), which its tests stop,
    restart or cut off: never the shared one.  Without the server binaries the tests skip, except where ``CI``
    is set (CI must run them), where they fail."""
    if find_postgres_bin() is None:
        message = "no PostgreSQL server binaries (initdb, pg_ctl) on this machine: install the postgresql package"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {message}")
        pytest.skip(message)
    with PrivatePostgres() as server:
        yield server
