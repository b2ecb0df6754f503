"""Who gets in: anonymous access (off by default), a trusted proxy header (off by default), a server that is
down (a clear `StorageError`, after retries of reads)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from skybutler.client import RemoteButler
from skybutler.errors import PermissionDeniedError, StorageError
from skybutler.testing.server import ServedRepo, served_repo


@pytest.fixture
def open_to_all(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServedRepo]:
    options: dict[str, Any] = {
        "anonymous_grants": ("read:public/*",),
        "trusted_user_header": "X-Forwarded-User",
        "header_grants": {"alice": ("write:u/alice/*",), "*": ("read:*",)},
    }
    with served_repo(request, tmp_path / "open", "sqlite-file", **options) as served:
        with served.remote(run="public/run") as admin:
            admin.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
            admin.put({"p": 1}, "meta", instrument="Cam", visit=1, detector=1)
            admin.put({"q": 1}, "meta", instrument="Cam", visit=1, detector=1, run="private/run")
        yield served


def test_anonymous_callers_get_only_the_anonymous_grants(open_to_all: ServedRepo) -> None:
    with RemoteButler(open_to_all.url, token="", collections="public/run") as anyone:
        assert anyone.get("meta", instrument="Cam", visit=1, detector=1) == {"p": 1}
        with pytest.raises(PermissionDeniedError, match="private/run"):
            anyone.get("meta", instrument="Cam", visit=1, detector=1, collections="private/run")


def test_the_trusted_header_names_the_user_only_when_configured(
    open_to_all: ServedRepo, served_files: ServedRepo
) -> None:
    find = {"dataset_type": "meta", "data_id": {"instrument": "Cam", "visit": 1, "detector": 1},
            "collections": ["private/run"]}  # fmt: skip
    with httpx.Client() as http:
        as_bob = http.post(f"{open_to_all.url}/api/v1/datasets/find", json=find, headers={"X-Forwarded-User": "bob"})
        assert as_bob.status_code == 200  # '*': read:*
        put = {"dataset_type": "meta", "run": "u/bob/x", "data_ids": [{"instrument": "Cam", "visit": 2, "detector": 2}]}
        refused = http.post(f"{open_to_all.url}/api/v1/datasets/prepare", json=put, headers={"X-Forwarded-User": "bob"})
        assert refused.status_code == 403
        assert "'bob'" in refused.json()["message"]
        # a server without the setting ignores the header: no token, no anonymous access
        ignored = http.post(
            f"{served_files.url}/api/v1/datasets/find", json=find, headers={"X-Forwarded-User": "admin"}
        )
        assert ignored.status_code == 403


def test_a_server_that_is_down_is_a_storage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    start = time.monotonic()
    with pytest.raises(StorageError, match="does not answer"):
        RemoteButler(f"http://127.0.0.1:{port}", token="sbt_x_y", retries=2)
    assert time.monotonic() - start >= 0.15  # two retries with backoff (0.05 s, then 0.1 s)
