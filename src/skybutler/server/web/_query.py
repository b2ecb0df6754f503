"""Query pages: datasets of a type (paged, sortable, filtered by a where expression) and the completeness grid.

The collections searched are those the caller may read (`Caller.readable_leaves`, as the API's queries); what
was left out is said as a count.  A page of results asks the registry for one row more than it shows (to know
whether there is a next page), so a page costs the same on a repository of a thousand datasets or a million.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from skybutler.errors import QuerySyntaxError
from skybutler.server.web._render import page, session
from skybutler.server.web._visible import scrub

__all__ = ["router"]

router = APIRouter()

PAGE_SIZES = (25, 50, 100, 200)
MAX_OFFSET = 100_000
MAX_GRID_ROWS = 2000


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace(",", " ").split() if part.strip()]


def _caret(exc: QuerySyntaxError, where: str) -> dict[str, Any]:
    """The parts of a where expression around the error's column, to mark it on the page."""
    pos = getattr(exc, "position", None)
    message = str(exc).split("\n", 1)[0]
    if pos is None or not where:
        return {"message": str(exc), "before": None, "at": None, "after": None}
    pos = max(0, min(int(pos), len(where)))
    return {"message": message, "before": where[:pos], "at": where[pos : pos + 1] or " ", "after": where[pos + 1 :]}


@router.get("/datasets", response_class=HTMLResponse)
@page("datasets.html")
def datasets(
    request: Request,
    type: Annotated[str, Query(max_length=128)] = "",
    collections: Annotated[str, Query(max_length=1024)] = "*",
    where: Annotated[str, Query(max_length=4096)] = "",
    order: Annotated[str, Query(max_length=128)] = "",
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """A page of datasets of one type found in the readable collections matching ``collections``."""
    values: dict[str, Any] = {
        "title": f"Datasets {type}" if type else "Datasets",
        "form": {"type": type, "collections": collections, "where": where},
        "order": order, "page": page, "size": size, "rows": [], "columns": [], "has_next": False,
        "syntax": None, "problem": None, "note": None, "explanations": [], "dataset_types": [],
    }  # fmt: skip
    with session(request) as (_, butler, caller):
        values["user"] = caller.user
        values["dataset_types"] = [dt.name for dt in butler.query_dataset_types()]
        if not type:
            return values
        dataset_type = butler.get_dataset_type(type)
        dims = list(dataset_type.dimensions.required)
        values["columns"] = dims
        names, note = caller.readable_leaves(butler, _split(collections) or ["*"])
        values["note"] = note
        if not names:
            values["explanations"] = ["No collection the caller may read matches."]
            return values
        offset = (page - 1) * size
        if offset > MAX_OFFSET:
            values["problem"] = f"Pages stop at row {MAX_OFFSET}; narrow the query with a where expression."
            return values
        sort = [order] if order.lstrip("-") in dims else None
        try:
            results = butler.query_datasets(
                type, collections=names, where=where, find_first=False, order_by=sort, limit=offset + size + 1
            )
            refs = list(results)
        except QuerySyntaxError as exc:
            values["syntax"] = _caret(exc, where)
            return values
        values["has_next"] = len(refs) > offset + size
        shown = refs[offset : offset + size]
        values["rows"] = [(r.id.hex, [r.data_id.required[d] for d in dims], r.run) for r in shown]
        if not shown and page == 1:
            values["explanations"] = scrub(butler, caller, list(results.explain_no_results()))[:5]
        return values


@router.get("/missing", response_class=HTMLResponse)
@page("missing.html")
def missing(
    request: Request,
    types: Annotated[str, Query(max_length=1024)] = "",
    dimensions: Annotated[str, Query(max_length=512)] = "",
    collections: Annotated[str, Query(max_length=1024)] = "*",
    where: Annotated[str, Query(max_length=4096)] = "",
) -> dict[str, Any]:
    """The completeness matrix of dataset types over the data IDs of dimensions, as a coloured grid."""
    values: dict[str, Any] = {
        "title": "Completeness",
        "form": {"types": types, "dimensions": dimensions, "collections": collections, "where": where},
        "table": None, "rows": [], "columns": [], "more": 0, "syntax": None, "note": None,
    }  # fmt: skip
    with session(request) as (_, butler, caller):
        values["user"] = caller.user
        type_names, dims = _split(types), _split(dimensions)
        if not type_names:
            return values
        if not dims:
            dims = list(butler.get_dataset_type(type_names[0]).dimensions.required)
            values["form"]["dimensions"] = " ".join(dims)
        names, note = caller.readable_leaves(butler, _split(collections) or ["*"])
        values["note"] = note
        if not names:
            values["note"] = (note or "") + " (no collection the caller may read matches)"
            return values
        try:
            table = butler.missing(type_names, dims, collections=names, where=where)
        except QuerySyntaxError as exc:
            values["syntax"] = _caret(exc, where)
            return values
        values["table"] = table
        shown = table.rows[:MAX_GRID_ROWS]
        values["columns"] = list(shown[0].data_id.required) if shown else []
        values["rows"] = [(list(row.data_id.required.values()), row.counts) for row in shown]
        values["more"] = max(0, len(table.rows) - MAX_GRID_ROWS)
        values["missing_counts"] = table.missing_counts()
        return values
