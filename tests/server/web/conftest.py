"""Fixtures of the web pages' tests: the sample site served on loopback, and Chromium driven by Playwright.

The browser is Debian's ``chromium`` (never a downloaded one).  Where it is missing the browser tests skip with
the reason, except under ``CI``, where they fail: CI installs it (.ci/run).  Screenshots go to
``test-artifacts/web/`` (ignored by git; ``SKYBUTLER_TEST_ARTIFACTS`` moves it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybutler.server import ServerConfig, ServerThread
from skybutler.testing.web import Site, build_site, chromium_missing, launch_chromium

ARTIFACTS = Path(os.environ.get("SKYBUTLER_TEST_ARTIFACTS", Path(__file__).parents[3] / "test-artifacts")) / "web"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The sample repository (built once per module)."""
    return build_site(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[ServerThread]:
    """A live server on the sample repository."""
    with ServerThread(ServerConfig(site.root)) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (skipped where missing, failed under CI)."""
    why = chromium_missing()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the browser tests: {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


def signed_in(browser: Any, server: ServerThread, token: str) -> Any:
    """A browser context that signed in with ``token`` through the login form."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{server.url}/web/")
    assert "/web/login" in page.url
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/web/")
    page.close()
    return context


@pytest.fixture(scope="module")
def admin(browser: Any, server: ServerThread, site: Site) -> Iterator[Any]:
    """A browser context signed in as the administrator."""
    context = signed_in(browser, server, site.admin_token)
    yield context
    context.close()


@pytest.fixture(scope="module")
def reader(browser: Any, server: ServerThread, site: Site) -> Iterator[Any]:
    """A browser context signed in with a token that reads only ``public/*``."""
    context = signed_in(browser, server, site.reader_token)
    yield context
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots are saved."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
