"""``Butler(url)``: the remote butler for a skybutler server, plain files over HTTP otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybutler.butler import Butler, DirectButler
from skybutler.client import RemoteButler
from skybutler.client._helpers import is_server
from skybutler.testing.fixtures import POSTGRES_URL, fresh_schema, require_postgres
from skybutler.testing.server import ServedRepo


def test_a_server_url_opens_the_remote_butler(served_files: ServedRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBUTLER_TOKEN", served_files.admin_token)
    butler: object = Butler(served_files.url, run="u/env")
    assert isinstance(butler, RemoteButler)
    with butler:
        assert butler.info.user == "admin"
    monkeypatch.delenv("SKYBUTLER_TOKEN")
    again: object = Butler.from_server(served_files.url, token=served_files.admin_token, collections="u/env")
    assert isinstance(again, RemoteButler)
    with again:
        assert list(again.query_datasets("*")) == []


@pytest.mark.postgres
def test_a_plain_http_repository_still_opens_as_files(http_root: tuple[str, Path]) -> None:
    url, directory = http_root
    assert not is_server(url)
    require_postgres()  # a repository read over HTTP keeps its registry in a database server
    with fresh_schema(POSTGRES_URL) as schema:
        Butler.create(directory / "repo", registry=POSTGRES_URL, schema=schema)
        with Butler(f"{url}/repo") as butler:  # served as files: there is no /api/v1/ there
            assert type(butler) is DirectButler
            assert butler.query_collections() == []
