"""A put claims its final path before registering: never over another file, and reconcile knows its claims.

Also: one bad artifact path (a directory, a path blocked by another file) is reported by `verify` and
`reconcile`, never an error for the whole repository (issue 17 items 1, 3 and 6).  On SQLite and PostgreSQL.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path

import pytest

from skybutler.butler import DirectButler
from skybutler.datasets import DatasetRef
from skybutler.datastore import STAGING, FileDatastore
from skybutler.dimensions import DataCoordinate
from skybutler.errors import ConflictError
from skybutler.transports import Transport

DIMS = ["instrument", "visit", "detector"]


@pytest.fixture
def butler(butler: DirectButler) -> DirectButler:
    """The shared fixture's butler (local files), with a ``meta`` dataset type."""
    butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
    return butler


def _files(butler: DirectButler) -> FileDatastore:
    return butler.datastore.files()


def _local(butler: DirectButler, uri: str) -> Path:
    transport = _files(butler).transport
    return transport.local_path(uri.removeprefix(transport.root).replace("%25", "%"))


def _tree(butler: DirectButler) -> list[str]:
    return sorted(_files(butler).transport.keys())


def test_a_path_taken_by_another_file_is_never_written_over(butler: DirectButler) -> None:
    transport = _files(butler).transport
    path = "test/run/meta/Cam/1/meta_Cam_1_1.json"
    transport.put(path, b"a stranger's bytes")
    ref = butler.put({"v": 1}, "meta", instrument="Cam", visit=1, detector=1)
    assert transport.get(path) == b"a stranger's bytes"
    assert butler.get_uri(ref).endswith(f"meta_Cam_1_1_{ref.id.hex[-12:]}.json")
    assert butler.get(ref) == {"v": 1}
    assert not list(transport.keys(STAGING))


def test_a_failed_registration_removes_the_claim_and_the_staged_file(butler: DirectButler) -> None:
    ref = butler.put({"v": 1}, "meta", instrument="Cam", visit=1, detector=1)
    before = _tree(butler)
    with pytest.raises(ConflictError):
        butler.put({"v": 2}, "meta", instrument="Cam", visit=1, detector=1)
    assert _tree(butler) == before
    assert butler.get(ref) == {"v": 1}


def test_reconcile_removes_an_unregistered_puts_claim_and_nothing_else(butler: DirectButler) -> None:
    kept = butler.put({"v": 0}, "meta", instrument="Cam", visit=0, detector=1)
    transport = _files(butler).transport
    transport.put("test/run/meta/Cam/1/stranger.json", b"not ours")
    stored = butler.registry.dataset_types.get("meta")
    coord = DataCoordinate(stored.dataset_type.dimensions, ("Cam", 1, 5))
    ref = DatasetRef(uuid.uuid4(), stored.dataset_type, coord, "test/run")
    staged = _files(butler).prepare_many([ref], [{"v": 5}])  # a put that dies before registering
    assert transport.exists(staged[0].artifact.path)
    report = butler.reconcile(grace_seconds=0)
    assert sorted(report.removed_staging) == sorted([staged[0].staging_key, staged[0].artifact.path])
    assert report.unknown == ["test/run/meta/Cam/1/stranger.json"]
    assert transport.get("test/run/meta/Cam/1/stranger.json") == b"not ours"
    assert butler.get(kept) == {"v": 0}


def test_reconcile_keeps_a_registered_staged_file_whose_path_holds_another_file(butler: DirectButler) -> None:
    ref = butler.put({"v": 1}, "meta", instrument="Cam", visit=1, detector=1)
    final = _local(butler, butler.get_uri(ref))
    staging = _files(butler).transport.local_path(f"{STAGING}{ref.id.hex}.json")
    shutil.copyfile(final, staging)  # as an older version left it: registered, staged, never claimed
    final.unlink()
    final.write_bytes(b"a stranger's bytes")
    report = butler.reconcile(grace_seconds=0)
    assert len(report.problems) == 1
    assert "another file is there" in report.problems[0]
    assert staging.exists()
    assert final.read_bytes() == b"a stranger's bytes"
    final.unlink()  # the operator moves the stranger away: the next reconcile finishes the move
    report = butler.reconcile(grace_seconds=0)
    assert (report.promoted, report.problems) == ([str(butler.get_uri(ref)).rsplit("/repo/", 1)[1]], [])
    assert butler.get(ref) == {"v": 1}


def test_verify_and_reconcile_report_a_directory_where_a_file_should_be_and_go_on(butler: DirectButler) -> None:
    bad = butler.put({"v": 1}, "meta", instrument="Cam", visit=1, detector=1)
    good = butler.put({"v": 2}, "meta", instrument="Cam", visit=2, detector=1)
    path = _local(butler, butler.get_uri(bad))
    path.unlink()
    path.mkdir()
    (path / "inside").write_bytes(b"x")
    report = butler.verify()
    assert report.ok == 1
    assert [(i, why.split(":")[0]) for i, _uri, why in report.corrupt] == [(bad.id, "unreadable")]
    butler.reconcile(grace_seconds=0)  # no error for the whole repository
    assert butler.get(good) == {"v": 2}


def test_a_file_system_without_hard_links_claims_with_a_placeholder(
    butler: DirectButler, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)  # as on FAT or some network file systems
    transport = _files(butler).transport
    transport.put("test/run/meta/Cam/1/meta_Cam_1_1.json", b"a stranger's bytes")
    ref = butler.put({"v": 1}, "meta", instrument="Cam", visit=1, detector=1)
    assert butler.get(ref) == {"v": 1}
    assert transport.get("test/run/meta/Cam/1/meta_Cam_1_1.json") == b"a stranger's bytes"
    assert not list(transport.keys(STAGING))
    stored = butler.registry.dataset_types.get("meta")
    coord = DataCoordinate(stored.dataset_type.dimensions, ("Cam", 1, 7))
    lost = DatasetRef(uuid.uuid4(), stored.dataset_type, coord, "test/run")
    staged = _files(butler).prepare_many([lost], [{"v": 7}])  # dies before registering
    assert isinstance(transport, Transport)
    assert transport.identity(staged[0].artifact.path) == transport.identity(staged[0].staging_key)
    report = butler.reconcile(grace_seconds=0)
    assert len(report.removed_staging) == 2
    assert report.problems == []
    assert butler.verify().problems == 0
