"""Endpoints of collections: query, register, remove, chains, tags and calibration certification."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from pydantic import BaseModel

from skybutler.dimensions import Timespan
from skybutler.registry import CollectionType
from skybutler.server._app import Ctx
from skybutler.server._datasets_api import _refs
from skybutler.wire import (
    CertifyRequest,
    ChainRequest,
    CollectionModel,
    CollectionRequest,
    DecertifyRequest,
    QueryCollectionsRequest,
    TagRequest,
)

if TYPE_CHECKING:
    from skybutler.butler import DirectButler
    from skybutler.registry import CollectionRecord

__all__ = ["router"]

router = APIRouter(tags=["collections"])


class Names(BaseModel):
    """A list of collection names."""

    names: list[str]


def _model(butler: DirectButler, record: CollectionRecord) -> CollectionModel:
    children = butler.collections.children(record.name) if record.type is CollectionType.CHAINED else None
    return CollectionModel(name=record.name, type=record.type.name, doc=record.doc, children=children)


@router.post("/collections/query", response_model=list[CollectionModel])
def query_collections(ctx: Ctx, body: QueryCollectionsRequest) -> list[CollectionModel]:
    """Collections matching the patterns and types that the caller may read, sorted by name."""
    with ctx.session() as (butler, caller):
        found = butler.collections.query(body.patterns, types=body.types, flatten_chains=body.flatten_chains)
        return [_model(butler, r) for r in found if caller.may("read", r.name)]


@router.post("/collections/get", response_model=CollectionModel)
def get_collection(ctx: Ctx, body: Names) -> CollectionModel:
    """One collection (the first name), with its children when it is a chain."""
    with ctx.session() as (butler, caller):
        name = body.names[0] if body.names else ""
        caller.require("read", [name])
        return _model(butler, butler.collections.get(name))


@router.post("/collections/flatten", response_model=list[str])
def flatten(ctx: Ctx, body: Names) -> list[str]:
    """The search path of the names, chains expanded (every collection reached must be readable)."""
    with ctx.session() as (butler, caller):
        caller.require_read_path(butler, body.names)
        return butler.collections.flatten(body.names)


@router.post("/collections/register")
def register(ctx: Ctx, body: CollectionRequest) -> dict[str, bool]:
    """Register a collection (write on its name); whether it is new."""
    with ctx.session(write=True) as (butler, caller):
        caller.require("write", [body.name])
        return {"registered": butler.collections.register(body.name, body.type, doc=body.doc)}


@router.post("/collections/remove")
def remove(ctx: Ctx, body: Names) -> dict[str, bool]:
    """Remove TAGGED, CHAINED or CALIBRATION collections (write on each)."""
    with ctx.session(write=True, changes=True) as (butler, caller):
        caller.require("write", body.names)
        for name in body.names:
            butler.collections.remove(name)
        return {"removed": True}


@router.post("/collections/remove-runs")
def remove_runs(ctx: Ctx, body: Names, even_if_used: bool = False) -> dict[str, int]:
    """Remove RUN collections and their datasets (write on each; ``even_if_used``: also datasets others
    record as an input, whose lineage edges are kept)."""
    with ctx.session(write=True, changes=True) as (butler, caller):
        caller.require("write", body.names)
        return {"removed": butler.collections.remove_runs(body.names, even_if_used=even_if_used)}


@router.post("/collections/chain")
def chain(ctx: Ctx, body: ChainRequest) -> dict[str, list[str]]:
    """Set, extend or shrink a chain: write on the chain, read on every child it is given."""
    with ctx.session(write=True) as (butler, caller):
        caller.require("write", [body.name])
        if body.mode == "remove":
            butler.collections.remove_from_chain(body.name, body.children)
        else:
            caller.require_read_path(butler, body.children)
            if body.mode == "extend":
                butler.collections.extend_chain(body.name, body.children)
            else:
                butler.collections.set_chain(body.name, body.children)
        return {"children": butler.collections.children(body.name)}


@router.post("/collections/associate")
def associate(ctx: Ctx, body: TagRequest) -> dict[str, int]:
    """Tag datasets (write on the TAGGED collection, read on the datasets' runs)."""
    with ctx.session(write=True) as (butler, caller):
        caller.require("write", [body.name])
        refs = _refs(butler, body.refs)
        caller.require("read", sorted({r.run for r in refs}))
        butler.collections.associate(body.name, refs)
        return {"associated": len(refs)}


@router.post("/collections/disassociate")
def disassociate(ctx: Ctx, body: TagRequest) -> dict[str, int]:
    """Untag datasets (write on the TAGGED collection)."""
    with ctx.session(write=True) as (butler, caller):
        caller.require("write", [body.name])
        return {"disassociated": butler.collections.disassociate(body.name, _refs(butler, body.refs))}


@router.post("/collections/certify")
def certify(ctx: Ctx, body: CertifyRequest) -> dict[str, int]:
    """Certify calibrations over [begin, end) (write on the CALIBRATION collection, read on their runs)."""
    with ctx.session(write=True) as (butler, caller):
        caller.require("write", [body.name])
        refs = _refs(butler, body.refs)
        caller.require("read", sorted({r.run for r in refs}))
        when = butler.collections.certify(body.name, refs, Timespan(body.begin, body.end), replace=body.replace)
        return {"recorded": when}


@router.post("/collections/decertify")
def decertify(ctx: Ctx, body: DecertifyRequest) -> dict[str, int]:
    """Withdraw certifications over [begin, end) (write on the CALIBRATION collection)."""
    with ctx.session(write=True) as (butler, caller):
        caller.require("write", [body.name])
        closed = butler.collections.decertify(
            body.name, body.dataset_type, Timespan(body.begin, body.end), data_ids=body.data_ids
        )
        return {"closed": closed}
