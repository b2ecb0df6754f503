"""Rendering: the Jinja2 environment, the request's session (cookie token → caller), and the page decorator.

Every page is a plain function returning the template's values; `page` turns it into an HTML answer, renders a
`SkyButlerError` as an error page with the error's HTTP status, sends a visitor without credentials to the login
page, and reports the server time it took in a ``Server-Timing`` header (wall and CPU milliseconds), which the
benchmark reads.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from skybutler.dimensions import tai_ns_to_iso
from skybutler.errors import PermissionDeniedError, SkyButlerError
from skybutler.server._app import Context

if TYPE_CHECKING:
    import jinja2

    from skybutler.butler import DirectButler
    from skybutler.server._auth import Caller

__all__ = ["COOKIE", "HERE", "PREFIX", "page", "render", "session"]

PREFIX = "/web"
COOKIE = "skybutler_token"
"""The cookie holding the browser's token (HttpOnly, SameSite=Strict, path /web)."""

HERE = Path(__file__).parent


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["prefix"] = PREFIX
    env.filters["q"] = lambda value: quote(str(value), safe="")
    env.filters["qpath"] = lambda value: quote(str(value), safe="/")
    env.filters["tai"] = lambda ns: tai_ns_to_iso(int(ns))[:23] + " TAI"
    env.filters["utc"] = _utc
    return env


def _utc(ns: int) -> str:
    import datetime

    moment = datetime.datetime.fromtimestamp(ns / 1e9, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", " UTC")


def render(template: str, request: Request, **values: Any) -> str:
    """The HTML of ``template`` with ``values`` (and the request, for links back to itself)."""
    return _environment().get_template(template).render(request=request, **values)


def _context(request: Request) -> Context:
    config = request.app.state.config
    token = request.cookies.get(COOKIE)
    authorization = f"Bearer {token}" if token else request.headers.get("authorization")
    header_user = request.headers.get(config.trusted_user_header) if config.trusted_user_header else None
    return Context(request, authorization, header_user)


@contextmanager
def session(request: Request) -> Iterator[tuple[Context, DirectButler, Caller]]:
    """The request's context, a butler of the pool and the authenticated caller (403 before anything)."""
    ctx = _context(request)
    with ctx.session() as (butler, caller):
        yield ctx, butler, caller


def page(template: str) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Make a function returning a template's values (or a `Response`) an HTML page endpoint."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Response]:
        @functools.wraps(fn)
        def endpoint(**kwargs: Any) -> Response:
            request: Request = kwargs["request"]
            wall, cpu = time.perf_counter(), time.process_time()
            status = 200
            try:
                result = fn(**kwargs)
                if isinstance(result, Response):
                    return result
                html = render(template, request, **result)
            except SkyButlerError as exc:
                if isinstance(exc, PermissionDeniedError) and not _context(request).has_credentials:
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303)
                status = exc.http_status
                html = render("error.html", request, title="Error", error=exc, kind=type(exc).__name__, user=None)
            response = HTMLResponse(html, status_code=status)
            took = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
            response.headers["Server-Timing"] = f"app;dur={took[0]:.2f}, cpu;dur={took[1]:.2f}"
            return response

        return endpoint

    return decorate
