"""The home page, the collections pages (chain trees, counts, a RUN's provenance), login and the stylesheet."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from skybutler.errors import CollectionError, DatasetNotFoundError, PermissionDeniedError, SkyButlerError
from skybutler.registry import CollectionType
from skybutler.server.web._render import COOKIE, HERE, PREFIX, page, render, session
from skybutler.server.web._visible import (
    COUNT_CAP,
    chain_tree,
    counts_by_type,
    readable,
    repository_counts,
    run_size,
)

__all__ = ["router"]

router = APIRouter()

RECENT_RUNS = 10
MAX_LISTED = 500
_STATIC = {"style.css": "text/css; charset=utf-8"}


@router.get("/", response_class=HTMLResponse)
@page("home.html")
def home(request: Request) -> dict[str, Any]:
    """Counts, the most recently registered runs, and the search box."""
    with session(request) as (_, butler, caller):
        records, hidden = readable(butler, caller)
        runs = [r for r in records if r.type is CollectionType.RUN]
        counts = repository_counts(butler, None if not hidden else [r.id for r in runs])
        recent = sorted(runs, key=lambda r: r.id, reverse=True)[:RECENT_RUNS]
        return {
            "title": "Repository",
            "n_types": counts.dataset_types,
            "n_collections": len(records),
            "hidden": hidden,
            "n_datasets": counts.datasets,
            "n_records": counts.dimension_records,
            "recent": [(r.name, r.doc, run_size(butler, r.id)) for r in recent],
            "cap": COUNT_CAP,
            "dataset_types": [dt.name for dt in butler.query_dataset_types()],
            "form": {"type": "", "collections": "*", "where": ""},
            "user": caller.user,
        }


@router.get("/collections", response_class=HTMLResponse)
@page("collections.html")
def collections(request: Request, pattern: Annotated[str, Query(max_length=256)] = "*") -> dict[str, Any]:
    """Every readable collection matching ``pattern``, with the chains drawn as expandable trees."""
    from fnmatch import fnmatchcase

    with session(request) as (_, butler, caller):
        records, hidden = readable(butler, caller)
        matched = [r for r in records if fnmatchcase(r.name, pattern)]
        chains = [chain_tree(butler, caller, r.name) for r in matched if r.type is CollectionType.CHAINED]
        return {
            "title": "Collections",
            "pattern": pattern,
            "records": matched[:MAX_LISTED],
            "more": max(0, len(matched) - MAX_LISTED),
            "chains": chains[:MAX_LISTED],
            "hidden": hidden,
            "user": caller.user,
        }


@router.get("/collection/{name:path}", response_class=HTMLResponse)
@page("collection.html")
def collection(request: Request, name: str) -> dict[str, Any]:
    """One collection: type, doc, its tree if a chain, datasets by type, and a RUN's provenance."""
    with session(request) as (_, butler, caller):
        caller.require("read", [name])
        record = butler.registry.collections.get(name)
        tree = chain_tree(butler, caller, name) if record.type is CollectionType.CHAINED else None
        counts: dict[str, int] = {}
        hidden_members = 0
        if record.type is CollectionType.CHAINED:
            for leaf in butler.registry.collections.flatten([name]):
                if not caller.may("read", leaf.name):
                    hidden_members += 1
                    continue
                for type_name, n in counts_by_type(butler, leaf).items():
                    counts[type_name] = counts.get(type_name, 0) + n
        else:
            counts = counts_by_type(butler, record)
        return {
            "title": f"Collection {name}",
            "record": record,
            "tree": tree,
            "counts": dict(sorted(counts.items())),
            "hidden_members": hidden_members,
            "cap": COUNT_CAP,
            "user": caller.user,
        }


@router.get("/run/{name:path}", response_class=HTMLResponse)
@page("run.html")
def run(request: Request, name: str) -> dict[str, Any]:
    """A RUN's provenance: who made it, where, when, with what software and configuration (`Butler.run_info`).

    A page of its own: for a run written outside `Butler.run_context`, the registry finds the end time from the
    run's datasets, which costs a scan of them on a run of a million.
    """
    with session(request) as (_, butler, caller):
        caller.require("read", [name])
        record = butler.registry.collections.get(name)
        if record.type is not CollectionType.RUN:
            raise CollectionError(f"Collection {name!r} is {record.type.name}: only a RUN has provenance.")
        try:
            run_info = butler.run_info(name)
        except DatasetNotFoundError:
            run_info = None
        return {"title": f"Run {name}", "record": record, "run_info": run_info, "user": caller.user}


# -- login ---------------------------------------------------------------------------------------------------------
def _safe_next(target: str | None) -> str:
    """Only a path of these pages: never another site (no open redirect)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    """The token form."""
    return HTMLResponse(render("login.html", request, title="Sign in", next=_safe_next(next), error=None, user=None))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check the token, keep it in an HttpOnly cookie and go on to the page asked for."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    target = _safe_next((form.get("next") or [""])[0])

    def check() -> int | None:
        with request.app.state.pool.butler() as butler:
            return butler.registry.tokens.check(token).expires  # type: ignore[no-any-return]

    try:
        if not token:
            raise PermissionDeniedError("Paste a token (an administrator makes one with `skybutler token create`).")
        expires = await run_in_threadpool(check)
    except SkyButlerError as exc:
        html = render("login.html", request, title="Sign in", next=target, error=str(exc), user=None)
        return HTMLResponse(html, status_code=403)
    response = RedirectResponse(target, status_code=303)
    max_age = None
    if expires is not None:
        import time

        max_age = max(0, (expires - time.time_ns()) // 10**9)  # token expiries are Unix nanoseconds
    response.set_cookie(
        COOKIE, token, max_age=max_age, path=PREFIX, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.post("/logout")
def logout() -> Response:
    """Forget the token (drop the cookie)."""
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The stylesheet (the only asset: no script is needed)."""
    if name not in _STATIC:
        return Response("Not found", status_code=404, media_type="text/plain")
    body = (HERE / "static" / name).read_bytes()
    return Response(body, media_type=_STATIC[name], headers={"Cache-Control": "public, max-age=3600"})
