"""Faults on a real S3 endpoint: the server stops before or in the middle of a put (moto on loopback).

Each test runs its own server, so stopping it does not disturb the session's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.errors import StorageError
from skybutler.testing.s3 import MotoServer, new_bucket
from skybutler.testing.sample import populate_sample
from skybutler.transports._s3 import S3Transport

pytestmark = pytest.mark.s3

DIMS = ["instrument", "visit", "detector"]


@pytest.fixture
def server(s3_endpoint: str) -> Iterator[MotoServer]:
    """A moto server of this test's own (``s3_endpoint`` only sets up credentials and the import check)."""
    own = MotoServer()
    own.start()
    yield own
    own.stop()


@pytest.fixture(params=[True, False], ids=["in-place", "staged"])
def butler(request: pytest.FixtureRequest, server: MotoServer, tmp_path: Path) -> Iterator[DirectButler]:
    options = {"endpoint_url": server.endpoint, "max_attempts": 2, "conditional_writes": request.param}
    root = Butler.create(
        tmp_path / "repo",
        datastore=f"s3://{new_bucket(server.endpoint)}/repo",
        config={"datastore": {"transport": options}},
    )
    with DirectButler(root, run="run1") as b:
        populate_sample(b)
        b.register_dataset_type("meta", DIMS, "StructuredDataDict")
        yield b


class StopsServer(S3Transport):
    """The repository's own S3 transport, which stops the server as its ``after``-th upload begins."""

    def __init__(self, root: str, server: MotoServer, after: int, **options: Any) -> None:
        super().__init__(root, **options)
        self.server = server
        self.after = after
        self.uploads = 0

    def _count(self) -> None:
        self.uploads += 1
        if self.uploads == self.after:
            self.server.stop()

    @contextmanager
    def open_create(self, key: str, *, owner: str | None = None) -> Iterator[BinaryIO]:
        self._count()
        with super().open_create(key, owner=owner) as f:
            yield f

    @contextmanager
    def open_write(self, key: str, *, atomic: bool = True) -> Iterator[BinaryIO]:
        self._count()
        with super().open_write(key, atomic=atomic) as f:
            yield f


def _items(visits: range) -> list[tuple[Any, Any]]:
    return [({"v": v}, {"instrument": "Cam", "visit": v, "detector": 1}) for v in visits]


def test_a_stopped_server_fails_a_put_cleanly_and_a_retry_succeeds(butler: DirectButler, server: MotoServer) -> None:
    butler.put({"v": 0}, "meta", instrument="Cam", visit=0, detector=1)
    server.stop()
    with pytest.raises(StorageError, match=r"Cannot (write|stat) s3://.*endpoint http://127\.0\.0\.1.*retry"):
        butler.put({"v": 1}, "meta", instrument="Cam", visit=1, detector=1)
    assert butler.registry.datasets.count() == 1
    server.start()  # same port: the repository's configuration still points at it
    butler.put({"v": 1}, "meta", instrument="Cam", visit=1, detector=1)
    assert butler.get("meta", instrument="Cam", visit=1, detector=1) == {"v": 1}


def test_the_server_stopping_in_the_middle_of_put_many_leaves_the_registry_unchanged(
    butler: DirectButler, server: MotoServer
) -> None:
    original = butler.datastore.files().transport
    assert isinstance(original, S3Transport)
    butler.datastore.files().transport = StopsServer(
        original.root,
        server,
        after=4,
        endpoint_url=server.endpoint,
        max_attempts=2,
        conditional_writes=original.can_create,
        max_concurrency=1,  # uploads in order, so the server stops after exactly three
    )
    with pytest.raises(StorageError, match=r"127\.0\.0\.1"):
        butler.put_many(_items(range(10)), "meta")
    assert butler.registry.datasets.count() == 0
    server.start()
    butler.datastore.files().transport = original
    refs = butler.put_many(_items(range(10)), "meta")
    assert butler.get_many(refs) == [{"v": v} for v in range(10)]
    # The three uploads that landed before the server stopped could not be deleted then: reconcile does it
    # (when staged, with the claim each made of its final path).
    report = butler.reconcile(grace_seconds=0)
    assert (len(report.removed_staging), report.unknown) == (3 if original.can_create else 6, [])
    assert butler.verify().problems == 0
    assert butler.verify().unknown == []


def test_a_stopped_server_during_remove_says_the_datasets_are_gone_and_reconcile_deletes_the_files(
    butler: DirectButler, server: MotoServer
) -> None:
    ref = butler.put({"v": 0}, "meta", instrument="Cam", visit=0, detector=1)
    server.stop()
    # the rows went to the trash first; a retry of remove would find nothing to remove, so say what to run
    with pytest.raises(StorageError, match=r"(?s)127\.0\.0\.1.*removed from the registry.*reconcile"):
        butler.remove([ref])
    assert butler.registry.datasets.count() == 0
    assert butler.remove([ref]) == 0
    server.start()
    report = butler.reconcile(grace_seconds=0)
    assert len(report.removed_trash) == 1
    assert butler.registry.datasets.trash() == []
    assert butler.verify().unknown == []
