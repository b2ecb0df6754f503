"""The remote butler's server: a FastAPI application over one repository (``skybutler serve``).

Its endpoints live under ``/api/v1`` (`skybutler.wire.API_PREFIX`), described by an OpenAPI document at
``/api/v1/openapi.json``; docs/server.md says how to run it, make tokens and grant access.  Names resolve on
first use, so that the command line can list ``serve`` without importing FastAPI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skybutler.server._app import ButlerPool, create_app
    from skybutler.server._config import ServerConfig
    from skybutler.server._run import ServerThread, serve

__all__ = ["ButlerPool", "ServerConfig", "ServerThread", "create_app", "serve"]

_LAZY = {
    "ButlerPool": "skybutler.server._app",
    "ServerConfig": "skybutler.server._config",
    "ServerThread": "skybutler.server._run",
    "create_app": "skybutler.server._app",
    "serve": "skybutler.server._run",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'skybutler.server' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
