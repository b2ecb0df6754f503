"""The dataset page (ref, expanded data ID, files, preview, download), its PNG preview, and its lineage graph."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from skybutler.datastore import FileDatastore
from skybutler.errors import DatasetNotFoundError, SkyButlerError
from skybutler.server._signing import sign_url
from skybutler.server.web import _thumbnail
from skybutler.server.web._lineage_svg import lineage_svg
from skybutler.server.web._render import page, session

if TYPE_CHECKING:
    from skybutler.butler import DirectButler
    from skybutler.datasets import DatasetRef
    from skybutler.server._app import Context
    from skybutler.server._auth import Caller

__all__ = ["router"]

router = APIRouter()

TABLE_ROWS = 20
JSON_CHARS = 20_000
_IMAGE_TYPES = ("skybutler.astro:Image", "skybutler.astro:Exposure", "numpy:ndarray")
_TABLE_TYPES = ("astropy.table:Table", "pyarrow:Table", "pandas:DataFrame")
_JSON_TYPES = ("builtins:dict", "builtins:list")


def readable_ref(butler: DirectButler, caller: Caller, dataset_id: str) -> DatasetRef:
    """The dataset with this ID, if the caller may read its RUN (otherwise it is not found, as if absent)."""
    ref = butler.get_dataset(dataset_id)
    if ref is None or not caller.may("read", ref.run):
        raise DatasetNotFoundError(f"No dataset {dataset_id} that you may read; check the ID.")
    return ref


def preview_kind(ref: DatasetRef) -> str | None:
    """``image``, ``table``, ``json`` or None, from the storage class's Python type."""
    from skybutler.datasets import storage_classes

    storage_class = storage_classes.get(ref.dataset_type.storage_class)
    pytype = storage_class.pytype
    if pytype in _IMAGE_TYPES:
        return "image"
    if pytype in _TABLE_TYPES or storage_class.name.startswith("Arrow"):
        return "table"
    if pytype in _JSON_TYPES:
        return "json"
    return None


def _artifacts(butler: DirectButler, ref: DatasetRef) -> list[Any]:
    stored, _ = butler.registry.dataset_types.resolve(ref.dataset_type.name)
    rows = butler.registry.datasets.by_ids([stored], [ref.id])
    return butler.datastore.ordered(rows[0].artifacts) if rows else []


@router.get("/dataset/{dataset_id}", response_class=HTMLResponse)
@page("dataset.html")
def dataset(request: Request, dataset_id: str) -> dict[str, Any]:
    """Everything about one dataset, with a preview of its content."""
    with session(request) as (_, butler, caller):
        ref = readable_ref(butler, caller, dataset_id)
        expanded = butler.registry.expand_data_id(ref.data_id)
        records = {
            name: record.to_dict() for name, record in expanded.records.items() if record is not None
        }  # fmt: skip
        kind = preview_kind(ref)
        preview: Any = None
        problem = None
        if kind in ("table", "json"):
            try:
                preview = _table_preview(butler, ref) if kind == "table" else _json_preview(butler, ref)
            except SkyButlerError as exc:
                problem = str(exc)
        return {
            "title": f"Dataset {ref.dataset_type.name}",
            "ref": ref,
            "data_id": ref.data_id.required,
            "records": records,
            "artifacts": [(a, butler.datastore.uri_of(a)) for a in _artifacts(butler, ref)],
            "kind": kind,
            "preview": preview,
            "problem": problem,
            "sizes": _thumbnail.SIZES,
            "user": caller.user,
        }


def _table_preview(butler: DirectButler, ref: DatasetRef) -> dict[str, Any]:
    table = butler.get(ref, storage_class="AstropyTable")
    head = table[:TABLE_ROWS]
    return {
        "columns": list(head.colnames),
        "rows": [[_cell(row[c]) for c in head.colnames] for row in head],
        "total": len(table),
    }


def _cell(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _json_preview(butler: DirectButler, ref: DatasetRef) -> str:
    text = json.dumps(butler.get(ref), indent=2, sort_keys=True, default=str)
    return text if len(text) <= JSON_CHARS else text[:JSON_CHARS] + "\n..."


def _image_array(butler: DirectButler, ref: DatasetRef) -> Any:
    """The pixels to preview: an Exposure's image plane, an Image's data, or the array itself."""
    from skybutler.datasets import storage_classes

    components = storage_classes.get(ref.dataset_type.storage_class).components
    for component in ("image", "data"):
        if component in components:
            return butler.get(f"{ref.dataset_type.name}.{component}", ref.data_id, collections=[ref.run])
    return butler.get(ref)


@router.get("/dataset/{dataset_id}/preview.png")
async def preview(request: Request, dataset_id: str, size: Annotated[int, Query()] = _thumbnail.SIZES[0]) -> Response:
    """The dataset's image as a zscale PNG (sizes: `SIZES`), made on first request and cached."""
    if size not in _thumbnail.SIZES:
        return Response(f"size must be one of {_thumbnail.SIZES}", status_code=422, media_type="text/plain")
    return await run_in_threadpool(_preview, request, dataset_id, size)


def _preview(request: Request, dataset_id: str, size: int) -> Response:
    headers = {"Cache-Control": "private, max-age=86400"}
    try:
        with session(request) as (_, butler, caller):
            ref = readable_ref(butler, caller, dataset_id)  # the permission check comes before the cache
            png = _thumbnail.cached_png(ref.id.hex, size)
            if png is not None:
                return Response(png, media_type="image/png", headers={**headers, "X-Preview-Cache": "hit"})
            if preview_kind(ref) != "image":
                raise DatasetNotFoundError(f"Dataset {dataset_id} is not an image; it has no picture.")
            pixels = _image_array(butler, ref)
        png = _thumbnail.png_of(pixels, size)
    except SkyButlerError as exc:
        return Response(str(exc), status_code=exc.http_status, media_type="text/plain")
    except ValueError as exc:
        return Response(f"No preview: {exc}", status_code=422, media_type="text/plain")
    _thumbnail.remember_png(ref.id.hex, size, png)
    return Response(png, media_type="image/png", headers={**headers, "X-Preview-Cache": "miss"})


@router.get("/dataset/{dataset_id}/download")
@page("error.html")
def download(request: Request, dataset_id: str) -> Response:
    """A redirect to a fresh signed URL of the dataset's file (the page itself carries no expiring link)."""
    with session(request) as (ctx, butler, caller):
        ref = readable_ref(butler, caller, dataset_id)
        url = _signed_url(ctx, butler, _artifacts(butler, ref))
        if url is None:
            raise DatasetNotFoundError(f"Dataset {dataset_id} has no file that can be downloaded.")
        return RedirectResponse(url, status_code=303)


def _signed_url(ctx: Context, butler: DirectButler, artifacts: list[Any]) -> str | None:
    for artifact in artifacts:
        if artifact.component:
            continue
        leaf = butler.datastore.leaf(artifact.datastore)
        if isinstance(leaf, FileDatastore):
            transport, key = leaf.locate(artifact.path)
            config = ctx.config
            if transport.is_local:
                return sign_url(ctx.base_url, config.secret, "GET", leaf.name, artifact.path, config.url_lifetime)[0]
            return str(transport.url(key, expires_in=config.url_lifetime))
    return None


@router.get("/dataset/{dataset_id}/lineage", response_class=HTMLResponse)
@page("lineage.html")
def lineage(request: Request, dataset_id: str, depth: Annotated[int, Query(ge=1, le=10)] = 3) -> dict[str, Any]:
    """What the dataset was made from (left) and what used it (right), drawn as an SVG graph."""
    with session(request) as (_, butler, caller):
        ref = readable_ref(butler, caller, dataset_id)
        up = butler.lineage(ref, direction="up", depth=depth)
        down = butler.lineage(ref, direction="down", depth=depth)
        ids = {ref.id, *(n.id for n in up), *(n.id for n in down)}
        found = butler.registry.lineage.edges(ids, of="either")
        edges = [(e.input, e.output) for e in found if e.output in ids and e.input in ids]
        svg, nodes = lineage_svg(ref, up, down, edges, lambda name: caller.may("read", name))
        return {
            "title": f"Lineage of {ref.dataset_type.name}",
            "ref": ref,
            "svg": svg,
            "nodes": nodes,
            "depth": depth,
            "n_up": len(up),
            "n_down": len(down),
            "user": caller.user,
        }
