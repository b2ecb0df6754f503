"""Signed file URLs: what they allow (one file, one operation, until expiry), HTTP Range, and refused paths."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from skybutler.server._signing import sign_url
from skybutler.testing.server import ServedRepo

DIMS = ["instrument", "visit", "detector"]
TIMEOUT = 30.0
"""Seconds a request may take: the server shares this process and the machine (httpx's default 5 s ran out once,
with two test suites on two cores)."""


def _url_of_a_dataset(served: ServedRepo) -> tuple[str, bytes]:
    with served.remote(run="u/x") as butler:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        payload = {"numbers": list(range(3000))}  # above the inline limit: read through the URL
        ref = butler.put(payload, "meta", instrument="Cam", visit=1, detector=1)
        url = butler.get_uri(ref)
        assert butler.get(ref) == payload
    with served.local() as local:
        return url, local.datastore.files().transport.get(local.get_uri(ref).split("/repo/", 1)[1])


def _secret(served: ServedRepo) -> bytes:
    return served.server.app.state.config.secret  # type: ignore[no-any-return]


def test_a_signed_url_reads_its_file_without_a_token_and_in_ranges(served_files: ServedRepo) -> None:
    url, data = _url_of_a_dataset(served_files)
    with httpx.Client(timeout=TIMEOUT) as http:
        whole = http.get(url)
        assert whole.status_code == 200
        assert whole.content == data
        part = http.get(url, headers={"Range": "bytes=10-29"})
        assert part.status_code == 206
        assert part.content == data[10:30]
        assert part.headers["content-range"] == f"bytes 10-29/{len(data)}"


def test_an_altered_or_expired_url_is_refused(served_files: ServedRepo) -> None:
    url, _ = _url_of_a_dataset(served_files)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    key = parts.path.split("/files/", 1)[1]
    altered = [
        (base, {**query, "sig": query["sig"][:-1] + ("0" if query["sig"][-1] != "0" else "1")}),
        (base, {**query, "exp": str(int(query["exp"]) + 3600)}),  # a later expiry is not signed
        (base.replace(key, key.replace("meta_", "metb_")), query),  # another file
        (base, {**query, "ds": "other"}),
        (base, {**query, "op": "PUT"}),
    ]
    with httpx.Client(timeout=TIMEOUT) as http:
        for target, params in altered:
            answer = http.get(target, params=params)
            assert answer.status_code == 403, (target, params, answer.text)
            assert answer.json()["code"] == "permission-denied"
        expired, _ = sign_url(f"{parts.scheme}://{parts.netloc}/api/v1", _secret(served_files), "GET", "", key, -5)
        answer = http.get(expired)
        assert answer.status_code == 403
        assert "expired" in answer.json()["message"]


@pytest.mark.parametrize(
    "key",
    ["../butler.yaml", "a/../../butler.yaml", "butler.yaml", "registry.sqlite3", "/etc/passwd", "a//b", "./x",
     ".staging/x.json", ".pending/upload-x/x.json"],
)  # fmt: skip
def test_paths_leaving_the_datastore_are_refused_even_when_signed(served_files: ServedRepo, key: str) -> None:
    api = f"{served_files.url}/api/v1"
    signed, _ = sign_url(api, _secret(served_files), "GET", "", key, 60)
    repo_file = (served_files.root.removeprefix("file://").rstrip("/") + "/butler.yaml").encode()
    with httpx.Client(timeout=TIMEOUT) as http:
        answers = [http.get(signed)]  # httpx normalizes '..' away: the path then names no file
        if ".." in key:  # as a client that does not normalize the path would send it
            answers.append(http.get(signed.replace("../", "%2e%2e/")))
            answers.append(http.get(signed.replace("../", "..%2f")))
        for answer in answers:
            assert answer.status_code in (403, 404), answer.text
            assert b"SQLite format" not in answer.content
            assert repo_file not in answer.content


def test_uploads_only_create_pending_files_once(served_files: ServedRepo) -> None:
    api = f"{served_files.url}/api/v1"
    secret = _secret(served_files)
    with httpx.Client(timeout=TIMEOUT) as http:
        elsewhere, _ = sign_url(api, secret, "PUT", "", "u/x/meta/evil.json", 60)
        assert http.put(elsewhere, content=b"{}").status_code == 403
        for escaping in (".pending/upload-a/../../butler.yaml", ".pending/../butler.yaml"):
            escape, _ = sign_url(api, secret, "PUT", "", escaping, 60)
            assert http.put(escape, content=b"{}").status_code == 403
        for not_uploads in (".staging/0123abcd.json", ".pending/plan-a/0123abcd.json"):  # a put's or a plan's
            refused, _ = sign_url(api, secret, "PUT", "", not_uploads, 60)
            assert http.put(refused, content=b"{}").status_code == 403
        pending, _ = sign_url(api, secret, "PUT", "", ".pending/upload-0123/0123abcd.json", 60)
        assert http.put(pending, content=b"{}").status_code == 201
        assert http.put(pending, content=b"{}").status_code == 409  # never replaced
        read_url = pending.replace("op=PUT", "op=GET")
        assert http.get(read_url).status_code == 403  # a pending upload is not readable


@pytest.mark.parametrize("name", ["..%2F..%2Fbutler.yaml", "..", "%2e%2e", "meta%00", "a" * 300])
def test_path_parameters_of_the_api_refuse_traversal(served_files: ServedRepo, name: str) -> None:
    headers = {"Authorization": f"Bearer {served_files.admin_token}"}
    with httpx.Client(headers=headers, timeout=TIMEOUT) as http:
        for path in (f"/api/v1/dataset-types/{name}", f"/api/v1/dimension-records/{name}"):
            method = "GET" if "dataset-types" in path else "POST"
            answer = http.request(method, served_files.url + path, json=[])
            assert answer.status_code in (307, 404, 405, 422), (path, answer.status_code, answer.text)
            assert b"registry" not in answer.content
