"""Endpoints of provenance (issue 23) and of calibration history: run records, lineage, invalidation.

The writer of a run is the client's process: its host, user, command line and software environment travel in
an `OriginModel` and are recorded as a local butler records its own (the server's would say nothing useful).
Reads need ``read`` on what they show: a run's record its run; a lineage walk the runs of its starting
datasets, and the nodes it reaches in runs the caller may not read are left out (the answer says how many);
`invalidated` the search path it checks.  Recording needs ``write`` on the run.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from skybutler.errors import DatasetNotFoundError
from skybutler.server._app import Ctx
from skybutler.server._datasets_api import _refs
from skybutler.server._writers import record_origin
from skybutler.wire import (
    HistoryRequest,
    InvalidatedRequest,
    InvalidationModel,
    LineageNodeModel,
    LineageRequest,
    RefModel,
    RunRequest,
    ref_to_wire,
)

if TYPE_CHECKING:
    from skybutler.server._auth import Caller

__all__ = ["router"]

router = APIRouter(tags=["provenance"])


@router.post("/runs/record")
def record_run(ctx: Ctx, body: RunRequest) -> dict[str, bool]:
    """Enter (record the writer, set ``config``) or leave (set the end time) a run (write on the run)."""
    from skybutler.server._uploads import run_record

    with ctx.session(write=True) as (butler, caller):
        caller.require("write", [body.run])
        run = run_record(butler, body.run)
        if body.finish:
            butler.registry.runs.finish(run.id, time.time_ns())
            return {"recorded": True}
        if body.origin is not None and body.config is not None:
            body.origin.info["config"] = body.config
        record_origin(butler, run, body.origin)
        if body.config is not None:
            butler.registry.runs.set_config(run.id, dict(body.config))
        return {"recorded": True}


@router.get("/runs/{run:path}", response_model=dict[str, Any])
def run_info(ctx: Ctx, run: str) -> dict[str, Any]:
    """A run's record (read on the run): its fields, environments as mappings, task configs as refs."""
    with ctx.session() as (butler, caller):
        caller.require("read", [run])
        record = butler.run_info(run)
        return {
            "run": record.run, "host": record.host, "user": record.user, "command": record.command,
            "cwd": record.cwd, "started": record.started, "ended": record.ended, "config": record.config,
            "environments": [env.to_json() for env in record.environments],
            "task_configs": {k: ref_to_wire(r).model_dump() for k, r in record.task_configs.items()},
        }  # fmt: skip


@router.get("/datasets/by-id/{dataset_id}", response_model=RefModel | None)
def get_dataset(ctx: Ctx, dataset_id: str) -> RefModel | None:
    """The dataset with this ID (read on its run), or null when there is none."""
    with ctx.session() as (butler, caller):
        ref = butler.get_dataset(dataset_id)
        if ref is None:
            return None
        caller.require("read", [ref.run])
        return ref_to_wire(ref)


def _readable(caller: Caller, ref: Any) -> bool:
    return ref is None or caller.may("read", ref.run)


@router.post("/provenance/lineage", response_model=list[LineageNodeModel] | str)
def lineage(ctx: Ctx, body: LineageRequest) -> Any:
    """The lineage walk (read on the starting datasets' runs; nodes in unreadable runs left out, counted in
    the ``X-Skybutler-Hidden`` header), or its Graphviz DOT text with ``dot``."""
    with ctx.session() as (butler, caller):
        start = _refs(butler, body.refs)
        caller.require("read", sorted({r.run for r in start}))
        if body.dot:
            if not start:
                raise DatasetNotFoundError("A lineage graph needs a dataset to start from.")
            hidden = sorted({n.ref.run for n in butler.lineage(start[0], direction=body.direction, depth=body.depth)
                             if not _readable(caller, n.ref) and n.ref is not None})  # fmt: skip
            caller.require("read", hidden)  # a drawing shows every node: all must be readable
            return butler.lineage_dot(start[0], direction=body.direction, depth=body.depth)
        nodes = butler.lineage(start, direction=body.direction, depth=body.depth)
        shown = [n for n in nodes if _readable(caller, n.ref)]
        answer = [
            LineageNodeModel(id=n.id.hex, dataset_type=n.dataset_type, depth=n.depth,
                             ref=None if n.ref is None else ref_to_wire(n.ref)).model_dump()
            for n in shown
        ]  # fmt: skip
        return JSONResponse(answer, headers={"X-Skybutler-Hidden": str(len(nodes) - len(shown))})


@router.post("/provenance/invalidated", response_model=list[InvalidationModel])
def invalidated(ctx: Ctx, body: InvalidatedRequest) -> list[InvalidationModel]:
    """Outputs whose calibration inputs are no longer the valid ones (read on the search path; outputs in
    runs the caller may not read are left out)."""
    with ctx.session() as (butler, caller):
        names = body.collections if body.collections is not None else []
        caller.require_read_path(butler, names)
        found = butler.invalidated(names, as_of=body.as_of, dataset_types=body.dataset_types)
        return [
            InvalidationModel(
                output=ref_to_wire(i.output),
                used=i.used.hex if isinstance(i.used, uuid.UUID) else ref_to_wire(i.used),
                now_valid=None if i.now_valid is None else ref_to_wire(i.now_valid),
                observed=i.observed,
                collection=i.collection,
            )
            for i in found
            if caller.may("read", i.output.run)
        ]


# -- calibration history -----------------------------------------------------------------------------------------
@router.post("/collections/history", response_model=list[dict[str, Any]])
def history(ctx: Ctx, body: HistoryRequest) -> list[dict[str, Any]]:
    """Every certification row of a CALIBRATION collection (read on it), or with ``since`` the changes
    between two transaction times (`collections.diff`)."""
    with ctx.session() as (butler, caller):
        caller.require("read", [body.name])
        if body.since is not None:
            changes = butler.collections.diff(body.name, body.dataset_type, body.since, body.until)
            return [
                {"kind": c.kind, "dataset_type": c.dataset_type, "data_id": dict(c.data_id.required),
                 "valid": [c.valid.begin, c.valid.end], "before": c.before and c.before.hex,
                 "after": c.after and c.after.hex}
                for c in changes
            ]  # fmt: skip
        rows = butler.collections.history(body.name, body.dataset_type, body.data_id)
        return [
            {"dataset_type": r.dataset_type, "data_id": dict(r.data_id.required), "dataset_id": r.dataset_id.hex,
             "valid": [r.valid.begin, r.valid.end], "recorded": [r.recorded.begin, r.recorded.end]}
            for r in rows
        ]  # fmt: skip


@router.post("/collections/set-doc")
def set_doc(ctx: Ctx, body: dict[str, str | None]) -> dict[str, bool]:
    """Set or clear a collection's documentation (write on it)."""
    with ctx.session(write=True) as (butler, caller):
        name = body.get("name") or ""
        caller.require("write", [name])
        butler.collections.set_doc(name, body.get("doc"))
        return {"set": True}
