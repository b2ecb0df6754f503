"""The remote butler's server: a FastAPI application over one repository (``skybutler serve``).

Its endpoints live under ``/api/v1`` (`skybutler.wire.API_PREFIX`), described by an OpenAPI document at
``/api/v1/openapi.json``; docs/server.md says how to run it, make tokens and grant access.
"""

from __future__ import annotations

from skybutler.server._app import ButlerPool, create_app
from skybutler.server._config import ServerConfig
from skybutler.server._run import ServerThread, serve

__all__ = ["ButlerPool", "ServerConfig", "ServerThread", "create_app", "serve"]
