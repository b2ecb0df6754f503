"""Collection commands: query (with chains as a tree), chain, tag and untag, remove collections and runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from skybutler.cli._options import (
    collections_option,
    complete_collections,
    confirm,
    creating_collection,
    data_id_option,
    dataset_type_argument,
    direct,
    find_refs,
    open_butler,
    repo_argument,
    where_option,
    yes_dry_run_options,
)
from skybutler.cli._output import console, emit, format_option
from skybutler.cli._progress import progress_bar

if TYPE_CHECKING:
    from skybutler.butler import Butler

__all__ = [
    "associate",
    "collection_chain",
    "disassociate",
    "query_collections",
    "remove_collections",
    "remove_runs",
]

F = TypeVar("F", bound=Callable[..., Any])

_TYPES = click.Choice(["RUN", "TAGGED", "CHAINED", "CALIBRATION"], case_sensitive=False)


def _collection_argument(name: str, *, nargs: int = 1) -> Callable[[F], F]:
    return click.argument(name, nargs=nargs, shell_complete=complete_collections, required=True)


# -- query ----------------------------------------------------------------------------------------------------
def _tree(butler: Butler, name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    record = butler.collections.get(name)
    node: dict[str, Any] = {"name": name, "type": record.type.name}
    if record.type.name == "CHAINED" and name not in seen:
        node["children"] = [_tree(butler, c, (*seen, name)) for c in butler.collections.children(name)]
    return node


def _label(node: dict[str, Any]) -> Any:
    """A tree label: the name as typed (never read as rich markup), then the type, dimmed."""
    from rich.text import Text

    return Text.assemble(node["name"], " ", (node["type"], "dim"))


def _add_branches(branch: Any, node: dict[str, Any]) -> None:
    for child in node.get("children", []):
        _add_branches(branch.add(_label(child)), child)


@click.command()
@repo_argument
@click.argument("patterns", nargs=-1, shell_complete=complete_collections)
@click.option("--type", "-t", "types", type=_TYPES, multiple=True, help="Only collections of this type (repeatable).")
@click.option(
    "--chains",
    type=click.Choice(["table", "tree", "flatten"]),
    default="table",
    show_default=True,
    help="table: chains list their children; tree: chains drawn as trees; flatten: the search path.",
)
@format_option
@click.pass_context
def query_collections(
    ctx: click.Context, repo: str, patterns: tuple[str, ...], types: tuple[str, ...], chains: str, fmt: str
) -> None:
    """List collections (chains as tables or trees).

    List collections whose names match PATTERNS (globs; default: all).
    """
    butler = open_butler(ctx, repo)
    names = butler.query_collections(list(patterns) or "*", types=[t.upper() for t in types] or None)
    records = [butler.collections.get(n) for n in names]
    if chains == "flatten":
        names = butler.collections.flatten([r.name for r in records])
        emit([{"name": n, "type": butler.collections.get(n).type.name} for n in names], fmt,
             empty="No collections match.")  # fmt: skip
        return
    if chains == "tree":
        trees = [_tree(butler, r.name) for r in records]
        if fmt in ("json", "yaml"):
            _dump_nested(trees, fmt)
        elif fmt == "csv":
            emit([{"name": r.name, "type": r.type.name, "children": ",".join(_children(butler, r.name))}
                  for r in records], fmt)  # fmt: skip
        elif not trees:
            click.echo("No collections match.")
        else:
            from rich.tree import Tree

            out = console()
            for node in trees:
                root = Tree(_label(node))
                _add_branches(root, node)
                out.print(root)
        return
    rows = [
        {"name": r.name, "type": r.type.name, "children": ", ".join(_children(butler, r.name)) or None, "doc": r.doc}
        for r in records
    ]
    emit(rows, fmt, title="Collections", empty="No collections match.")


def _children(butler: Butler, name: str) -> list[str]:
    return butler.collections.children(name) if butler.collections.get(name).type.name == "CHAINED" else []


def _dump_nested(data: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        import json

        click.echo(json.dumps(data, indent=2))
    else:
        import yaml

        click.echo(yaml.safe_dump(data, sort_keys=False), nl=False)


# -- chains ---------------------------------------------------------------------------------------------------
@click.command()
@repo_argument
@_collection_argument("parent")
@click.argument("children", nargs=-1, shell_complete=complete_collections)
@click.option(
    "--mode",
    type=click.Choice(["set", "extend", "prepend", "remove"]),
    default="set",
    show_default=True,
    help="set: the chain becomes CHILDREN; extend/prepend: add them at the end/front; remove: drop them.",
)
@click.option("--doc", help="Documentation string for the chain.")
@click.pass_context
def collection_chain(
    ctx: click.Context, repo: str, parent: str, children: tuple[str, ...], mode: str, doc: str | None
) -> None:
    """Define or change a CHAINED collection.

    Define or change the CHAINED collection PARENT (created when missing) from CHILDREN. With --doc and no
    CHILDREN, only the documentation of an existing chain changes.
    """
    from skybutler.cli._options import split_names

    butler = open_butler(ctx, repo, writeable=True)
    kids = split_names(children)
    # --doc alone changes the doc only: in the default mode (set) it would empty the chain
    documenting = (
        not kids
        and doc is not None
        and direct(butler, "document a chain").registry.collections.find(parent) is not None
    )
    if mode == "remove":
        butler.collections.remove_from_chain(parent, kids)
    elif not documenting:  # every mode that adds children creates a missing PARENT, and removes it if refused
        with creating_collection(butler, parent, "CHAINED"):
            current = [] if mode == "set" else butler.collections.children(parent)
            butler.collections.set_chain(parent, [*current, *kids] if mode != "prepend" else [*kids, *current])
    if doc is not None:
        butler.collections.set_doc(parent, doc)
    click.echo(f"{parent}: {', '.join(butler.collections.children(parent)) or '(empty chain)'}")


# -- TAGGED ---------------------------------------------------------------------------------------------------
@click.command()
@repo_argument
@_collection_argument("tag")
@dataset_type_argument("dataset_types", nargs=-1, required=False)
@collections_option
@where_option
@data_id_option
@click.pass_context
def associate(
    ctx: click.Context, repo: str, tag: str, dataset_types: tuple[str, ...], collections: tuple[str, ...],
    where: str, data_id: tuple[str, ...],
) -> None:  # fmt: skip
    """Tag datasets into a TAGGED collection.

    Tag the datasets selected (DATASET_TYPES, default all; --collections, --where) into TAGGED collection TAG.
    """
    butler = open_butler(ctx, repo, writeable=True)
    refs = find_refs(butler, dataset_types, collections, where=where, data_id=data_id)[0]
    with creating_collection(butler, tag, "TAGGED") as created:
        butler.collections.associate(tag, refs)
    if created:
        click.echo(f"Created TAGGED collection {tag}.")
    click.echo(f"Tagged {len(refs)} dataset(s) into {tag}.")


@click.command()
@repo_argument
@_collection_argument("tag")
@dataset_type_argument("dataset_types", nargs=-1, required=False)
@where_option
@data_id_option
@yes_dry_run_options
@click.pass_context
def disassociate(
    ctx: click.Context, repo: str, tag: str, dataset_types: tuple[str, ...], where: str, data_id: tuple[str, ...],
    yes: bool, dry_run: bool,
) -> None:  # fmt: skip
    """Untag datasets from a TAGGED collection.

    Untag the datasets selected (DATASET_TYPES, default all; --where) from TAGGED collection TAG.
    """
    from skybutler.errors import CollectionError

    butler = open_butler(ctx, repo, writeable=True)
    kind = butler.collections.get(tag).type.name
    if kind != "TAGGED":  # before the list: a dry run must not promise what disassociate() then refuses
        raise CollectionError(f"Cannot untag datasets from {tag!r}: it is a {kind} collection, not TAGGED.")
    refs = find_refs(butler, dataset_types, [tag], where=where, data_id=data_id)[0]
    lines = [f"{r.dataset_type.name} {dict(r.data_id.required)} ({r.id})" for r in refs]
    if confirm(lines, f"untag {len(refs)} dataset(s) from {tag}", yes=yes, dry_run=dry_run):
        n = butler.collections.disassociate(tag, refs)
        click.echo(f"Untagged {n} dataset(s) from {tag}.")


# -- removal --------------------------------------------------------------------------------------------------
def _matching(butler: Butler, patterns: tuple[str, ...], *, runs: bool) -> list[Any]:
    from skybutler.cli._options import split_names
    from skybutler.errors import CollectionError

    found: dict[str, Any] = {}
    for pattern in split_names(patterns):
        matched = [butler.collections.get(n) for n in butler.query_collections(pattern)]
        exact = not set("*?[") & set(pattern)
        if exact and not matched:
            raise CollectionError(f"No collection named {pattern!r}; see `skybutler query-collections`.")
        for record in matched:
            if (record.type.name == "RUN") == runs:
                found[record.name] = record
            elif exact:
                other = "remove-collections" if runs else "remove-runs"
                raise CollectionError(f"{pattern!r} is a {record.type.name} collection; use `skybutler {other}`.")
    return list(found.values())


@click.command()
@repo_argument
@click.argument("patterns", nargs=-1, required=True, shell_complete=complete_collections)
@yes_dry_run_options
@click.pass_context
def remove_collections(ctx: click.Context, repo: str, patterns: tuple[str, ...], yes: bool, dry_run: bool) -> None:
    """Remove collections that are not runs.

    Remove TAGGED, CHAINED and CALIBRATION collections matching PATTERNS (their datasets stay in their runs).
    """
    butler = open_butler(ctx, repo, writeable=True)
    records = _removal_order(butler, _matching(butler, patterns, runs=False))
    if confirm([f"{r.name} ({r.type.name})" for r in records], f"remove {len(records)} collection(s)",
               yes=yes, dry_run=dry_run):  # fmt: skip
        for record in records:
            butler.collections.remove(record.name)
        click.echo(f"Removed {len(records)} collection(s).")


def _removal_order(butler: Butler, records: list[Any]) -> list[Any]:
    """``records`` with every chain before the children it lists, checked before anything is removed.

    Collections are removed one by one, and a chain's child cannot go while the chain lists it: a child
    named before its chain was refused, and a child of a chain not being removed failed after the
    collections named before it were gone.

    Raises
    ------
    CollectionError
        A collection is listed by a chain that is not being removed (nothing is removed).
    """
    from skybutler.errors import CollectionError

    names = {r.name for r in records}
    parents = {r.name: set(direct(butler, "order removals").registry.collections.parents(r.name)) for r in records}
    for record in records:
        if outside := sorted(parents[record.name] - names):
            raise CollectionError(
                f"Collection {record.name!r} is a child of {outside}; remove it from those chains first, or "
                "remove them too (nothing was removed)."
            )
    ordered: list[Any] = []
    pending = list(records)
    while pending:
        left = {r.name for r in pending}
        ready = [r for r in pending if not parents[r.name] & left] or pending  # (chains have no cycles)
        ordered += ready
        pending = [r for r in pending if r not in ready]
    return ordered


@click.command()
@repo_argument
@click.argument("patterns", nargs=-1, required=True, shell_complete=complete_collections)
@click.option("--even-if-used", is_flag=True, help="Remove datasets that other runs' datasets record as inputs.")
@yes_dry_run_options
@click.pass_context
def remove_runs(
    ctx: click.Context, repo: str, patterns: tuple[str, ...], even_if_used: bool, yes: bool, dry_run: bool
) -> None:
    """Remove runs with their datasets and files.

    Remove RUN collections matching PATTERNS, with all their datasets and files.
    """
    from skybutler.errors import CollectionError

    butler = open_butler(ctx, repo, writeable=True)
    runs = [r.name for r in _matching(butler, patterns, runs=True)]
    for name in runs:  # remove_runs() refuses this too, but only after the list and the question (or a dry run)
        if parents := direct(butler, "order removals").registry.collections.parents(name):
            raise CollectionError(
                f"Run {name!r} is a child of {parents}; remove it from those chains first (nothing was removed)."
            )
    counts = {run: butler.query_datasets("*", collections=run, find_first=False).count() for run in runs}
    lines = [f"{run}: {n} dataset(s)" for run, n in counts.items()]
    if confirm(lines, f"remove {len(runs)} run(s) and {sum(counts.values())} dataset(s)", yes=yes, dry_run=dry_run):
        with progress_bar(ctx) as progress:
            removed = butler.collections.remove_runs(runs, progress=progress, even_if_used=even_if_used)
        click.echo(f"Removed {len(runs)} run(s) and {removed} dataset(s).")
