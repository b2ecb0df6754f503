"""The remote butler: `RemoteButler`, the local `Butler`'s API over HTTP (httpx only; never FastAPI).

``Butler("http://host:port")`` gives one when the URL answers as a skybutler server (``GET /api/v1/``); see
docs/server.md.
"""

from __future__ import annotations

from skybutler.client._butler import RemoteButler
from skybutler.client._results import RemoteDataIdResults, RemoteDatasetResults

__all__ = ["RemoteButler", "RemoteDataIdResults", "RemoteDatasetResults"]
