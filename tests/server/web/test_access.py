"""A grant-limited token never sees a collection it may not read: not in lists, chain trees, counts' names, query
messages or lineage graphs; asking for one directly is refused."""

from __future__ import annotations

from typing import Any

import pytest

from skybutler.server import ServerThread
from skybutler.testing.web import Site

SECRET = "secret/"


def pages_of(site: Site) -> list[str]:
    refs = site.refs
    return [
        "/web/", "/web/collections", "/web/collection/public/chain", "/web/collection/public/run3",
        "/web/datasets?type=raw_meta&collections=*", "/web/datasets?type=raw_meta&collections=public/chain",
        "/web/datasets?type=raw_meta&collections=*&where=visit%20%3D%2099",
        "/web/missing?types=raw_meta&collections=*", "/web/timeline",
        f"/web/dataset/{refs['secret_use'].id.hex}", f"/web/dataset/{refs['secret_use'].id.hex}/lineage",
        f"/web/dataset/{refs['raw_meta'].id.hex}/lineage",
    ]  # fmt: skip


def test_reader_never_sees_hidden_collections(site: Site, server: ServerThread, reader: Any) -> None:
    page = reader.new_page()
    for path in pages_of(site):
        response = page.goto(server.url + path)
        assert response is not None
        assert response.status == 200, path
        assert SECRET not in page.content(), path
    page.close()


def test_reader_sees_counts_of_what_is_hidden(site: Site, server: ServerThread, reader: Any) -> None:
    from skybutler.butler import DirectButler

    with DirectButler(site.root) as butler:
        runs = [r.name for r in butler.registry.collections.all() if r.type.name == "RUN"]
        public = sum(len(butler.query_datasets("*", collections=r, find_first=False)) for r in runs if "public/" in r)
        total = butler.registry.datasets.count()
    page = reader.new_page()
    page.goto(server.url + "/web/")
    assert int(page.locator("#n-datasets").inner_text()) == public < total
    page.goto(server.url + "/web/collection/public/chain")
    tree = page.locator("#chain-tree")
    assert tree.locator("[data-collection='public/run2']").count() == 1
    assert tree.locator("[data-collection='public/run1']").count() == 1
    assert tree.locator(".hidden-count").inner_text() == "1 collection(s) you may not read"
    page.goto(server.url + "/web/datasets?type=raw_meta&collections=*")
    assert "1 collection(s) the caller may not read were left out" in page.locator("#query-note").inner_text()
    page.goto(server.url + f"/web/dataset/{site.refs['secret_use'].id.hex}/lineage")
    states = page.eval_on_selector_all("svg.lineage g.box", "gs => gs.map(g => g.dataset.state)")
    assert sorted(states) == ["hidden", "shown", "start"]
    page.close()


def test_reader_is_refused_what_it_may_not_read(site: Site, server: ServerThread, reader: Any, admin: Any) -> None:
    page = reader.new_page()
    response = page.goto(server.url + "/web/collection/secret/run1")
    assert response is not None
    assert response.status == 403
    assert page.locator("#error").count() == 1
    response = page.goto(server.url + f"/web/dataset/{site.refs['secret'].id.hex}")
    assert response is not None
    assert response.status == 404
    status = reader.request.get(f"{server.url}/web/dataset/{site.refs['secret'].id.hex}/download").status
    assert status == 404
    page.close()
    page = admin.new_page()  # the administrator does see it
    page.goto(server.url + "/web/collection/public/chain")
    assert page.locator("#chain-tree [data-collection='secret/run1']").count() == 1
    page.close()


def test_api_miss_never_names_a_hidden_collection(site: Site, server: ServerThread) -> None:
    from skybutler.client import RemoteButler
    from skybutler.errors import DatasetNotFoundError

    # visit 0, detector 0 of raw_meta is in public/run1, public/best and secret/run1, not in public/run3
    with RemoteButler(server.url, token=site.reader_token) as reader, pytest.raises(DatasetNotFoundError) as caught:
        reader.get("raw_meta", instrument="Cam", visit=0, detector=0, collections="public/run3")
    message = str(caught.value)
    assert "secret/" not in message
    assert "It exists in ['public/best', 'public/run1']" in message
    assert "1 collection(s) you may not read also hold it" in message
