"""Small puts in one round trip (``/datasets/put-inline``) next to the signed-URL puts, on both back-ends: both
store what a local put stores, and a refused or failed inline put leaves neither a registered dataset nor a file."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from skybutler.client import RemoteButler
from skybutler.errors import ConflictError, CorruptArtifactError, DataIdError, PermissionDeniedError
from skybutler.testing.server import BACKENDS, ServedRepo, served_repo
from skybutler.wire import API_PREFIX, INLINE_LIMIT

DIMS = ["instrument", "visit", "detector"]


@pytest.fixture(scope="module", params=BACKENDS)
def repo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedRepo]:
    with served_repo(request, tmp_path_factory.mktemp("inline"), request.param) as served:
        with served.remote(writeable=True) as admin:
            admin.register_dataset_type("meta", DIMS, "StructuredDataDict")
        yield served


class Paths:
    """An httpx client that records the API paths it is sent to."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.client = httpx.Client(event_hooks={"request": [self._record]})

    def _record(self, request: httpx.Request) -> None:
        self.seen.append(request.url.path.removeprefix(API_PREFIX))

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        return seen


def _state(repo: ServedRepo) -> tuple[int, list[str]]:
    with repo.local() as local:
        return local.registry.datasets.count(), local.verify().unknown


def _writer(repo: ServedRepo, paths: Paths, run: str, grants: list[str] | None = None) -> RemoteButler:
    token = None if grants is None else repo.token("erin", grants)
    return repo.remote(token, run=run, client=paths.client)


def test_small_puts_take_one_request_and_large_ones_signed_urls(repo: ServedRepo) -> None:
    paths = Paths()
    with _writer(repo, paths, "inline/a") as butler:
        paths.take()
        first = butler.put({"n": 1}, "meta", instrument="Cam", visit=1, detector=1)  # learns the formatter
        seen = paths.take()  # the dataset type, prepare, the upload (to our files endpoint or to S3), commit
        assert (seen[-3], seen[-1]) == ("/datasets/prepare", "/datasets/commit")
        second = butler.put({"n": 2}, "meta", instrument="Cam", visit=1, detector=2)
        assert paths.take() == ["/datasets/put-inline"]
        large = {"blob": "x" * (INLINE_LIMIT + 1)}
        third = butler.put(large, "meta", instrument="Cam", visit=1, detector=3)
        seen = paths.take()
        assert (len(seen), seen[0], seen[-1]) == (3, "/datasets/prepare", "/datasets/commit")
        many = butler.put_many([({"n": i}, {"instrument": "Cam", "visit": 2, "detector": i}) for i in range(5)], "meta")
        assert paths.take() == ["/datasets/put-inline"]
        assert [butler.get(r) for r in (first, second)] == [{"n": 1}, {"n": 2}]
        assert butler.get(third) == large
        assert [butler.get(r) for r in many] == [{"n": i} for i in range(5)]
    with repo.local() as local:  # the same records as a local put: formatter, size, checksum, verified
        report = local.verify([second, *many])
        assert not report.problems
        assert not report.unknown
        artifacts = local.registry.datasets.all_artifacts([second.id])[second.id]
        assert artifacts[0].checksum is not None
        assert artifacts[0].size > 0


def test_a_refused_inline_put_changes_nothing(repo: ServedRepo) -> None:
    paths = Paths()
    with _writer(repo, paths, "u/erin/run", ["read:*", "write:u/erin/*"]) as erin:
        erin.put({"n": 1}, "meta", instrument="Cam", visit=3, detector=1)  # learns the formatter
        before = _state(repo)
        paths.take()
        with pytest.raises(PermissionDeniedError, match="inline/a"):
            erin.put({"n": 2}, "meta", instrument="Cam", visit=3, detector=2, run="inline/a")
        assert paths.take() == ["/datasets/put-inline"]
    assert _state(repo) == before


def test_a_failed_inline_put_leaves_nothing(repo: ServedRepo) -> None:
    paths = Paths()
    with _writer(repo, paths, "inline/b") as butler:
        butler.put({"n": 0}, "meta", instrument="Cam", visit=4, detector=0)
        before = _state(repo)
        paths.take()
        with pytest.raises(DataIdError):  # the second data ID is unknown: the first is not stored either
            butler.put_many([({"n": 1}, {"instrument": "Cam", "visit": 4, "detector": 1}),
                             ({"n": 2}, {"instrument": "Cam", "visit": 4, "detector": 999})], "meta")  # fmt: skip
        with pytest.raises(ConflictError):  # a data ID taken in the run: files written, then unwound
            butler.put_many([({"n": 3}, {"instrument": "Cam", "visit": 4, "detector": 3}),
                             ({"n": 4}, {"instrument": "Cam", "visit": 4, "detector": 0})], "meta")  # fmt: skip
        assert paths.take() == ["/datasets/put-inline", "/datasets/put-inline"]
        assert _state(repo) == before
        assert butler.put({"n": 3}, "meta", instrument="Cam", visit=4, detector=3) is not None  # learned still


def _inline_request(repo: ServedRepo, butler: RemoteButler, data: bytes, size: int, **item: Any) -> httpx.Response:
    learned = butler._formatters.put_format("meta")
    assert learned is not None
    body = {
        "dataset_type": "meta",
        "run": "inline/c",
        "items": [{"data_id": {"instrument": "Cam", "visit": 5, "detector": 1}, "formatter": learned[0],
                   "storage_class": "StructuredDataDict", "size": size, "checksum": None,
                   "data": base64.b64encode(data).decode(), **item}],
    }  # fmt: skip
    headers = {"Authorization": f"Bearer {repo.admin_token}", "Content-Type": "application/json"}
    return httpx.post(f"{repo.url}{API_PREFIX}/datasets/put-inline", content=json.dumps(body).encode(), headers=headers)


def test_the_server_checks_what_an_inline_put_says(repo: ServedRepo) -> None:
    with repo.remote(run="inline/c") as butler:
        butler.put({"n": 0}, "meta", instrument="Cam", visit=5, detector=0)
        before = _state(repo)
        data = b'{"n": 1}'
        answers = {
            "size": _inline_request(repo, butler, data, len(data) + 1),
            "checksum": _inline_request(repo, butler, data, len(data), checksum="sha256:" + "0" * 64),
            "formatter": _inline_request(repo, butler, data, len(data), formatter="yaml"),
            "too large": _inline_request(repo, butler, b"x" * (INLINE_LIMIT + 10), INLINE_LIMIT + 10),
        }
        codes = {what: (a.status_code, a.json().get("type")) for what, a in answers.items()}
        assert codes == {
            "size": (CorruptArtifactError.http_status, "CorruptArtifactError"),
            "checksum": (CorruptArtifactError.http_status, "CorruptArtifactError"),
            "formatter": (ConflictError.http_status, "ConflictError"),
            "too large": (422, "InvalidRequest"),
        }
        assert _state(repo) == before
