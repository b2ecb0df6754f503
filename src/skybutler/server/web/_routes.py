"""All the pages' routes in one router, mounted by `skybutler.server.create_app` under ``/web``."""

from __future__ import annotations

from fastapi import APIRouter

from skybutler.server.web import _dataset, _home, _query, _timeline

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
for _part in (_home.router, _query.router, _dataset.router, _timeline.router):
    router.include_router(_part)
