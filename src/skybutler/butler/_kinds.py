"""Which butler a URL opens: a repository read directly, or a skybutler server (the remote butler).

``Butler("https://…")`` already opens a read-only repository served as plain files over HTTP; a URL that answers
``GET /api/v1/`` as a skybutler server opens the remote butler instead (`is_server`).  Implementations are
plug-ins (``skybutler.butlers``), named in code as lazy strings: the butler layer never imports the client.
"""

from __future__ import annotations

from typing import Any

from skybutler.plugins import PluginRegistry

__all__ = ["butler_kinds", "is_server"]

butler_kinds: PluginRegistry[Any] = PluginRegistry(
    "butlers", {"direct": "skybutler.butler._butler:Butler", "remote": "skybutler.client:RemoteButler"}
)
"""Butler implementations by name: ``direct`` (registry and datastore in this process) and ``remote``."""


def is_server(url: str, *, timeout: float = 5.0) -> bool:
    """Whether ``url`` is a skybutler server: ``GET <url>/api/v1/`` answers JSON naming ``"server": "skybutler"``.

    Anything else -- an error status, another body, no answer -- is not (a plain HTTP repository then opens
    as files, and says what is wrong if it is not one either).
    """
    import httpx

    try:
        answer = httpx.get(f"{url.rstrip('/')}/api/v1/", timeout=timeout, follow_redirects=True)
        return answer.status_code == 200 and answer.json().get("server") == "skybutler"
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
