"""The pending-writes area: reserved, kept by reconcile until it expires, then an unknown artifact like any other."""

from __future__ import annotations

import json
import time

import pytest

from skybutler.butler import DirectButler
from skybutler.datastore import PENDING, PendingArea, key_problem, scan_pending
from skybutler.datastore._keys import is_repository_file
from skybutler.errors import ArtifactNotFoundError, ConfigError
from skybutler.transports import Transport


def test_area_marker_keys_and_removal(transport: Transport) -> None:
    area = PendingArea.create(transport, "upload", area_id="u1", expires_in=60)
    info = area.info()
    assert info["kind"] == "upload"
    assert 59 < info["expires"] - info["created"] <= 60
    transport.put(area.key("a.json"), b"{}")
    transport.put(area.key("sub/b.json"), b"{}")
    assert sorted(area.keys()) == [".pending/u1/a.json", ".pending/u1/sub/b.json"]
    assert area.keys("sub/") == [".pending/u1/sub/b.json"]
    area.remove()
    assert list(transport.keys(PENDING)) == []
    with pytest.raises(ArtifactNotFoundError):
        area.info()


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "a b"])
def test_area_ids_are_one_safe_segment(transport: Transport, bad: str) -> None:
    with pytest.raises(ConfigError, match="letters, digits"):
        PendingArea.create(transport, "plan", area_id=bad or "/")
    assert list(transport.keys(PENDING)) == []


def test_scan_sorts_live_and_expired(transport: Transport) -> None:
    live = PendingArea.create(transport, "plan", area_id="live", expires_in=3600)
    old = PendingArea.create(transport, "plan", area_id="old", expires_in=1)
    transport.put(live.key("x"), b"1")
    transport.put(old.key("y"), b"2")
    scan = scan_pending(transport, now=time.time() + 10)
    assert scan.live == [".pending/live/x"]
    assert scan.expired == [".pending/old/area.json", ".pending/old/y"]


def test_pending_is_reserved_for_the_repository() -> None:
    assert is_repository_file(".pending/p/x.json")
    assert key_problem(".pending/p/x.json") is not None  # imports and ingests cannot record a key there


def test_reconcile_reports_pending_apart_and_keeps_it_until_expiry(butler: DirectButler) -> None:
    store = butler.datastore.files()
    transport = store.transport
    area = PendingArea.create(transport, "plan", area_id="p1", expires_in=3600)
    transport.put(area.key("out.json"), b"{}")
    report = butler.reconcile(grace_seconds=0, remove_unknown=True)
    assert report.pending == [".pending/p1/out.json"]
    assert report.unknown == []
    assert transport.exists(area.key("out.json"))
    assert "1 pending" in str(report)
    # the area expires: from then on its files are unknown artifacts, removed when asked
    marker = json.loads(transport.get(area.key("area.json")))
    marker["expires"] = time.time() - 1
    transport.put(area.key("area.json"), json.dumps(marker).encode())
    report = butler.reconcile(grace_seconds=0)
    assert report.pending == []
    assert sorted(report.unknown) == [".pending/p1/area.json", ".pending/p1/out.json"]
    assert transport.exists(area.key("out.json"))
    butler.reconcile(grace_seconds=0, remove_unknown=True)
    assert list(transport.keys(PENDING)) == []
