"""A server killed during a put (a real ``skybutler serve`` process, SIGKILL): never a registered dataset without
its file, and the client's error says whether the put happened.  Both registry back-ends."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from skybutler.butler import DirectButler
from skybutler.client import RemoteButler
from skybutler.datastore import PENDING, STAGING, scan_pending
from skybutler.errors import StorageError
from skybutler.server._uploads import UPLOAD_GRACE
from skybutler.testing.sample import populate_sample
from skybutler.wire import INLINE_LIMIT

SRC = str(Path(__file__).resolve().parents[2] / "src")
DIMS = ["instrument", "visit", "detector"]
VISITS = 200
"""Visits of the sample: with 10 detectors, 2000 data IDs, more than three kill windows of at most 1 s can fill."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(root: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": SRC, "SKYBUTLER_SERVER_SECRET": "fixed-for-restarts"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "skybutler.cli", "serve", root, "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("the server did not start")


@pytest.fixture
def prepared(repo: str) -> tuple[str, str]:
    """The sample repository with a dataset type and an admin token."""
    with DirectButler(repo, writeable=True) as butler:
        populate_sample(butler, n_visits=VISITS)  # room for the random test's puts (~3 ms each, one request)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        token = butler.registry.tokens.create("admin", ["admin"])[0]
    return repo, token


def _check_storage(root: str, registered: int | tuple[int, ...]) -> None:
    """Every registered dataset has its file; after reconcile nothing is left over."""
    with DirectButler(root, writeable=True) as local:
        count = local.registry.datasets.count()
        assert count in ((registered,) if isinstance(registered, int) else registered)
        assert local.verify().problems == 0  # no registered dataset without its (intact) file
        local.reconcile(grace_seconds=0)
        report = local.verify()
        assert (report.problems, report.unknown) == (0, [])
        assert list(local.datastore.files().transport.keys(STAGING)) == []


@pytest.mark.parametrize("step", ["/datasets/commit", "/datasets/put-inline"])
def test_killed_before_the_commit_the_put_did_not_happen(
    prepared: tuple[str, str], monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    root, token = prepared
    proc, url = _start(root)
    try:
        with RemoteButler(url, token=token, run="u/run", retries=0) as butler:
            butler.put({"v": 0}, "meta", instrument="Cam", visit=0, detector=1)  # later small puts go inline
            call = butler._session.call

            def kill_before(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
                if path == step:
                    proc.kill()
                    proc.wait()
                return call(method, path, *args, **kwargs)

            monkeypatch.setattr(butler._session, "call", kill_before)
            payload = {"v": 1, "pad": "x" * (INLINE_LIMIT if step == "/datasets/commit" else 0)}
            with pytest.raises(StorageError, match="did not happen"):
                butler.put(payload, "meta", instrument="Cam", visit=1, detector=1)
        with DirectButler(root, writeable=True) as local:
            transport = local.datastore.files().transport
            assert list(transport.keys(STAGING)) == []
            if step == "/datasets/commit":
                (upload,) = scan_pending(transport).live  # the upload waits in its pending area, not in staging
                assert upload.startswith(f"{PENDING}upload-")
                report = local.reconcile(grace_seconds=0)
                assert (report.pending, report.unknown) == ([upload], [])  # kept until the area expires
                later = scan_pending(transport, now=time.time() + UPLOAD_GRACE + 3600)  # URLs: one hour at most
                assert upload in later.expired  # then an unknown file that reconcile(remove_unknown=True) deletes
            else:  # the bytes went with the request that never arrived: nothing anywhere
                assert scan_pending(transport).live == []
        _check_storage(root, 1)
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_killed_at_random_moments_never_leaves_a_dataset_without_its_file(prepared: tuple[str, str]) -> None:
    root, token = prepared
    rng = random.Random(20)
    stored = 0
    visit = 0
    for _ in range(3):
        proc, url = _start(root)
        killer = threading.Timer(rng.uniform(0.3, 1.0), proc.kill)
        killer.start()
        try:
            with RemoteButler(url, token=token, run="u/run", retries=0) as butler:
                while True:
                    visit += 1
                    butler.put({"v": visit}, "meta", instrument="Cam", visit=visit % VISITS, detector=visit // VISITS)
                    stored += 1
        except StorageError as exc:  # the kill: during a put, or between two
            message = str(exc)
            assert any(s in message for s in ("did not happen", "may or may not", "does not answer")), message
        finally:
            killer.cancel()
            proc.kill()
            proc.wait()
        _check_storage(root, (stored, stored + 1))
        with DirectButler(root) as local:
            stored = local.registry.datasets.count()
