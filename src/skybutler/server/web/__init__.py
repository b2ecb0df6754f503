"""Web pages of a repository, served by `skybutler serve` under ``/web/``: read-only, same tokens and grants as the API.

Server-rendered HTML (Jinja2 templates and one stylesheet shipped in the package; no JavaScript needed, no CDN).
A browser presents its token once, on the login page, and keeps it in an HttpOnly cookie; a collection the
token may not read never appears (not in lists, chains, counts' names or query messages).  docs/web.md shows
each page.
"""

from __future__ import annotations

from skybutler.server.web._routes import router

__all__ = ["router"]
