"""Make the screenshots of docs/web.md: the sample site (skybutler.testing.web) served, each page in Chromium.

Usage::

    python docs/gen_web_screenshots.py          # writes docs/web/*.png

Needs Debian's ``chromium`` and Playwright (the test extra), as the browser tests do.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from skybutler.server import ServerConfig, ServerThread
from skybutler.testing.web import build_site, chromium_missing, launch_chromium

OUT = Path(__file__).parent / "web"


def shots(site_refs: dict[str, object]) -> dict[str, str]:
    """Screenshot name → path of the page."""
    ref = lambda name: site_refs[name].id.hex  # type: ignore[attr-defined]  # noqa: E731
    return {
        "home": "/web/",
        "collections": "/web/collections",
        "collection": "/web/collection/public/run1",
        "run": "/web/run/public/run1",
        "datasets": "/web/datasets?type=raw_meta&collections=public/*&size=8&order=-visit",
        "bad-where": "/web/datasets?type=raw_meta&collections=public/*&where=visit%3E2%20AND%20AND%20detector=1",
        "missing": "/web/missing?types=raw_meta,calexp,sources&dimensions=visit,detector&collections=public/*",
        "dataset-image": f"/web/dataset/{ref('calexp')}",
        "dataset-table": f"/web/dataset/{ref('sources')}",
        "timeline": "/web/timeline?collection=public/calib&type=flat",
        "lineage": f"/web/dataset/{ref('calexp')}/lineage",
        "reader-chain": "/web/collection/public/chain",
    }  # fmt: skip


def main() -> int:
    why = chromium_missing()
    if why is not None:
        print(f"cannot make screenshots: {why}", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        site = build_site(Path(tmp))
        with ServerThread(ServerConfig(site.root)) as server, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            for name, path in shots(site.refs).items():
                token = site.reader_token if name.startswith("reader") else site.admin_token
                context = browser.new_context(viewport={"width": 1100, "height": 700})
                page = context.new_page()
                page.goto(f"{server.url}/web/login")
                page.fill("#token", token)
                page.click("button[type=submit]")
                page.wait_for_url(f"{server.url}/web/")
                page.goto(server.url + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=False)
                context.close()
                print(f"wrote {OUT / name}.png")
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
