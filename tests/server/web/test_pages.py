"""Each page in a real browser: it loads, shows its key elements, is valid HTML and has no axe violations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import html5lib
import pytest

from skybutler.server import ServerThread
from skybutler.testing.web import Site

PAGES = ["home", "collections", "chain", "run", "provenance", "calibration", "datasets", "missing", "dataset_image",
         "dataset_hdf5", "dataset_table", "dataset_json", "timeline_index", "timeline", "lineage"]  # fmt: skip


def target(site: Site, name: str) -> tuple[str, str]:
    """The path of page ``name`` on the sample site and a CSS selector it must show."""
    refs = site.refs
    return {
        "home": ("/web/", "#n-datasets"),
        "collections": ("/web/collections", "#chains [data-collection='public/chain']"),
        "chain": ("/web/collection/public/chain", "#chain-tree"),
        "run": ("/web/collection/public/run1", "#provenance"),
        "provenance": ("/web/run/public/run1", "#run-info"),
        "calibration": ("/web/collection/public/calib", "#type-counts"),
        "datasets": ("/web/datasets?type=raw_meta&collections=public/*&size=5", "#results tbody tr"),
        "missing": ("/web/missing?types=raw_meta,calexp&dimensions=visit,detector&collections=public/*", "#grid"),
        "dataset_image": (f"/web/dataset/{refs['calexp'].id.hex}", "#thumbnail"),
        "dataset_hdf5": (f"/web/dataset/{refs['coadd_h5'].id.hex}", "#thumbnail"),
        "dataset_table": (f"/web/dataset/{refs['sources'].id.hex}", "#table-preview"),
        "dataset_json": (f"/web/dataset/{refs['raw_meta'].id.hex}", "#json-preview"),
        "timeline_index": ("/web/timeline", "#choices"),
        "timeline": ("/web/timeline?collection=public/calib&type=flat", "svg.timeline rect.block"),
        "lineage": (f"/web/dataset/{refs['calexp'].id.hex}/lineage", "svg.lineage line.edge"),
    }[name]


def check_html(text: str) -> None:
    """Strict HTML5 parsing: any parse error fails."""
    html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)


def axe_violations(page: Any) -> list[str]:
    """axe-core's violations on the page (axe-core is bundled with axe-playwright-python: no download)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes) {v['nodes'][0]['html'][:200]}"
            for v in results.response["violations"]]  # fmt: skip


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_valid_accessible(name: str, site: Site, server: ServerThread, admin: Any, artifacts: Path) -> None:
    path, selector = target(site, name)
    page = admin.new_page()
    try:
        response = page.goto(server.url + path)
        assert response is not None
        assert response.status == 200, response.text()[:2000]
        assert page.locator(selector).count() > 0, f"{name}: {selector} not found"
        check_html(response.text())
        if name.startswith("dataset_") and page.locator("#thumbnail").count():
            page.wait_for_function("document.querySelector('#thumbnail').complete")
            assert page.eval_on_selector("#thumbnail", "img => img.naturalWidth") > 0
        assert axe_violations(page) == []
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    finally:
        page.close()


def test_bad_where_shows_error_at_caret(server: ServerThread, admin: Any, artifacts: Path) -> None:
    page = admin.new_page()
    page.goto(server.url + "/web/")
    page.fill("#q-type", "raw_meta")
    page.fill("#q-where", "visit > 2 AND AND detector = 1")
    page.click("form.search button[type=submit]")
    page.wait_for_selector("#where-error")
    assert page.locator("#q-where").get_attribute("aria-invalid") == "true"
    marked = page.locator("#where-error mark.at").inner_text()
    before = page.evaluate("document.querySelector('#where-error code').firstChild.textContent")
    assert before == "visit > 2 AND "
    assert marked == "A"
    assert page.locator("#results").count() == 0
    page.screenshot(path=str(artifacts / "bad_where.png"), full_page=True)
    page.close()


def column(page: Any, name: str) -> int:
    """The index of the results table's column ``name``."""
    names: list[str] = [h.strip() for h in page.locator("#results thead th").all_inner_texts()]
    return names.index(name)


def test_paging_and_sorting(server: ServerThread, admin: Any) -> None:
    page = admin.new_page()
    page.goto(server.url + "/web/datasets?type=raw_meta&collections=public/run1&size=5&order=-visit")
    first = page.locator("#results tbody tr").all_inner_texts()
    assert len(first) == 5
    at = column(page, "visit")
    visits = [int(row.split()[at]) for row in first]
    assert visits == sorted(visits, reverse=True)
    assert visits[0] == 5
    assert page.locator("a[rel=prev]").count() == 0
    seen = set(first)
    pages = 1
    while page.locator("a[rel=next]").count():
        page.click("a[rel=next]")
        rows = page.locator("#results tbody tr").all_inner_texts()
        assert rows
        assert not seen & set(rows)
        seen |= set(rows)
        pages += 1
    assert len(seen) == 18
    assert pages == 4
    page.click("a[rel=prev]")
    assert "page=3" in page.url
    page.goto(server.url + "/web/datasets?type=raw_meta&collections=public/run1&size=5")
    page.click(f"#results thead th:nth-child({column(page, 'visit') + 1}) a")  # sort by visit
    assert "order=visit" in page.url
    page.close()


def test_where_filters_results(server: ServerThread, admin: Any) -> None:
    page = admin.new_page()
    page.goto(server.url + "/web/datasets?type=raw_meta&collections=public/run1&where=visit%20%3D%202")
    rows = page.locator("#results tbody tr").all_inner_texts()
    at = column(page, "visit")
    assert len(rows) == 3
    assert all(row.split()[at] == "2" for row in rows)
    page.close()


def test_login_refuses_a_wrong_token_and_pages_need_one(browser: Any, server: ServerThread) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/web/collections")
    assert "/web/login" in page.url
    page.fill("#token", "sbt_0000_not-a-token")
    page.click("button[type=submit]")
    assert page.locator("#login-error").count() == 1
    assert page.locator("#chains").count() == 0
    check_html(page.content())
    context.close()


def test_thumbnail_is_cached_and_download_is_the_file(site: Site, server: ServerThread, admin: Any) -> None:
    ref = site.refs["calexp"]
    request = admin.request
    url = f"{server.url}/web/dataset/{ref.id.hex}/preview.png?size=1024"
    first, again = request.get(url), request.get(url)
    assert first.status == again.status == 200
    assert first.body()[:8] == b"\x89PNG\r\n\x1a\n"
    assert first.body() == again.body()
    assert again.headers["x-preview-cache"] == "hit"
    download = request.get(f"{server.url}/web/dataset/{ref.id.hex}/download")
    assert download.status == 200
    from skybutler.butler import DirectButler

    with DirectButler(site.root) as butler:
        path = butler.get_uri(ref).removeprefix("file://")
    assert download.body() == Path(path).read_bytes()
