"""Query endpoints: datasets and data IDs streamed as NDJSON, dimension records, the completeness matrix.

A query's rows are computed inside the call (its registry connection stays on one thread) and then streamed in
lines of up to `_CHUNK` rows each: the client parses one JSON array per line, so 100 000 refs cost no pydantic
object each.  The collections searched are only those the caller may read (`Caller.readable_leaves`); what was
left out is said in the header's note, which ``explain_no_results`` repeats.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from skybutler.datasets import as_uuid
from skybutler.server._app import Ctx
from skybutler.wire import (
    QUERY_MEDIA_TYPE,
    CompletenessRequest,
    DimensionRecordsRequest,
    QueryDataIdsRequest,
    QueryDatasetsRequest,
    QueryHeader,
    dataset_type_to_wire,
    json_value,
)

if TYPE_CHECKING:
    from skybutler.butler import DirectButler
    from skybutler.dimensions import DataCoordinate
    from skybutler.query import DatasetResults

__all__ = ["router"]

router = APIRouter(tags=["queries"])

_CHUNK = 5000
_STREAM: dict[int | str, dict[str, Any]] = {
    200: {"content": {QUERY_MEDIA_TYPE: {}}, "description": "a QueryHeader line, then lines of row arrays"}
}


def _json_dumps(rows: Any) -> bytes:
    return json.dumps(rows, separators=(",", ":")).encode()


_dumps: Callable[[Any], bytes] = _json_dumps
with suppress(ImportError):  # orjson (the server extra) makes the same JSON about 4x faster
    import orjson

    _dumps = orjson.dumps


def _stream(header: QueryHeader, rows: list[list[Any]]) -> StreamingResponse:
    def lines() -> Iterator[bytes]:
        yield header.model_dump_json().encode() + b"\n"
        for start in range(0, len(rows), _CHUNK):
            yield _dumps(rows[start : start + _CHUNK]) + b"\n"

    return StreamingResponse(lines(), media_type=QUERY_MEDIA_TYPE)


def _join(*notes: str | None) -> str | None:
    kept = [n for n in notes if n]
    return "; ".join(kept) if kept else None


@router.post("/query/datasets", response_class=StreamingResponse, responses=_STREAM)
def query_datasets(ctx: Ctx, body: QueryDatasetsRequest) -> StreamingResponse:
    """Datasets of the given types in the collections the caller may read."""
    with ctx.session() as (butler, caller):
        names, note = caller.readable_leaves(butler, body.collections)
        if body.collections is None:
            note = _join("no collections given: every RUN collection was searched, not find-first", note)
        if not names:
            header = QueryHeader(
                kind="datasets", note=note, explanations=["No collection the caller may read was searched."]
            )
            return _stream(header, [])
        results = butler.query_datasets(
            body.dataset_types,
            collections=names,
            where=body.where,
            bind=body.bind,
            data_id=body.data_id,
            find_first=body.find_first and body.collections is not None,
            order_by=body.order_by,
            limit=body.limit,
            at=body.at,
        )
        wire_types, runs, rows = _dataset_rows(butler, results)
        explanations = [] if rows else results.explain_no_results()
        header = QueryHeader(
            kind="datasets",
            dataset_types=wire_types,
            runs=list(runs),
            note=_join(results.note, note),
            explanations=explanations,
        )
        return _stream(header, rows)


def _dataset_rows(butler: DirectButler, results: DatasetResults) -> tuple[list[Any], list[str], list[list[Any]]]:
    """A query's dataset types, runs and rows ``[*required values, id hex, run index, type index]``.

    Made from the registry's rows as they come (`row_pages`), so 100 000 refs cost no `DatasetRef` here: the
    client makes the refs, from the same values.
    """
    types: dict[str, int] = {}
    wire_types: list[Any] = []
    runs: list[str] = []
    rows: list[list[Any]] = []
    row_pages = getattr(results, "row_pages", None)
    if row_pages is None:  # results of another kind: from their refs
        run_index: dict[str, int] = {}
        for ref in results:
            t = types.get(ref.dataset_type.name)
            if t is None:
                t = types[ref.dataset_type.name] = len(types)
                wire_types.append(dataset_type_to_wire(ref.dataset_type))
            r = run_index.setdefault(ref.run, len(run_index))
            rows.append([*ref.data_id.required_values, ref.id.hex, r, t])
        return wire_types, list(run_index), rows
    by_id: dict[int, int] = {}
    collections = butler.registry.collections
    for dt, page in row_pages():
        t = types.get(dt.name)
        if t is None:
            t = types[dt.name] = len(types)
            wire_types.append(dataset_type_to_wire(dt))
        n = len(dt.dimensions.required)
        for row in page:
            key, raw = row[n + 2], row[n]
            index = by_id.get(key)
            if index is None:
                index = by_id[key] = len(runs)
                runs.append(collections.by_id(key).name)
            rows.append([*row[:n], raw if type(raw) is str and len(raw) == 32 else as_uuid(raw).hex, index, t])
    return wire_types, runs, rows


@router.post("/query/data-ids", response_class=StreamingResponse, responses=_STREAM)
def query_data_ids(ctx: Ctx, body: QueryDataIdsRequest) -> StreamingResponse:
    """Data IDs of the dimensions (with datasets in readable collections, when datasets are given)."""
    with ctx.session() as (butler, caller):
        collections: list[str] | None = None
        note = None
        if body.datasets:
            collections, note = caller.readable_leaves(butler, body.collections)
        results = butler.query_data_ids(
            body.dimensions,
            where=body.where,
            bind=body.bind,
            data_id=body.data_id,
            datasets=body.datasets,
            collections=collections,
            order_by=body.order_by,
            limit=body.limit,
        )
        coords = results.expanded() if body.expanded else list(results)
        group = coords[0].group if coords else butler.universe.group(body.dimensions)
        full = bool(coords) and all(c.is_full for c in coords)
        rows: list[Any] = [list(c.full_values if full else c.required_values) for c in coords]
        if body.expanded:
            rows = [[values, _records(c)] for values, c in zip(rows, coords, strict=True)]
        header = QueryHeader(
            kind="expanded_data_ids" if body.expanded else "data_ids",
            dimensions=list(group.names if full else group.required),
            note=_join(results.note, note),
            explanations=[] if coords else results.explain_no_results(),
        )
        return _stream(header, rows)


def _records(coord: DataCoordinate) -> dict[str, Any]:
    """An expanded data ID's records by element, as JSON (`skybutler.client._results.record_from_wire`)."""
    return {
        name: None if record is None else {k: json_value(v) for k, v in record.to_dict().items()}
        for name, record in coord.records.items()
    }


@router.post("/query/dimension-records", response_model=list[dict[str, Any]])
def query_dimension_records(ctx: Ctx, body: DimensionRecordsRequest) -> list[dict[str, Any]]:
    """Records of an element (dimension records are not collection-scoped: any caller may read them)."""
    with ctx.session() as (butler, _):
        records = butler.query_dimension_records(
            body.element,
            where=body.where,
            bind=body.bind,
            data_id=body.data_id,
            order_by=body.order_by,
            limit=body.limit,
        )
        return [{k: json_value(v) for k, v in r.to_dict().items()} for r in records]


@router.post("/query/missing", response_model=dict[str, Any])
def missing(ctx: Ctx, body: CompletenessRequest) -> dict[str, Any]:
    """The completeness matrix over the collections given (each must be readable)."""
    with ctx.session() as (butler, caller):
        if body.collections:
            caller.require_read_path(butler, body.collections)
        table = butler.missing(
            body.dataset_types,
            body.dimensions,
            collections=body.collections,
            where=body.where,
            bind=body.bind,
            data_id=body.data_id,
        )
        group = table.rows[0].data_id.group if table.rows else None
        return {
            "dimensions": list(table.dimensions),
            "dataset_types": list(table.dataset_types),
            "data_id_dimensions": list(group.required) if group else [],
            "rows": [[list(r.data_id.required_values), r.counts] for r in table.rows],
        }
