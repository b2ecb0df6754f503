"""Provenance commands: run-info, lineage, impact, invalidated and logs."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from skybutler.cli._options import (
    collections_option,
    data_id_option,
    merged_data_id,
    open_butler,
    repo_argument,
    resolve_collections,
)
from skybutler.cli._output import emit, format_option, iso_utc

if TYPE_CHECKING:
    from skybutler.butler import Butler, LineageNode
    from skybutler.datasets import DatasetRef

__all__ = ["impact", "invalidated", "lineage", "logs", "run_info"]


def _utc(unix_ns: int | None) -> str | None:
    if unix_ns is None:
        return None
    import datetime

    return datetime.datetime.fromtimestamp(unix_ns / 1e9, datetime.UTC).isoformat(timespec="milliseconds")


def _one_ref(
    butler: Butler,
    dataset_id: str | None,
    dataset_type: str | None,
    data_id: tuple[str, ...],
    collections: tuple[str, ...],
) -> DatasetRef:
    """The dataset named by its ID, or by --type, --data-id and --collections."""
    from skybutler.errors import DatasetNotFoundError

    if dataset_id is not None:
        found = butler.get_dataset(dataset_id)
        if found is None:
            raise DatasetNotFoundError(f"Dataset {dataset_id} is not in the registry.")
        return found
    if dataset_type is None:
        raise click.UsageError("Give a dataset ID, or --type with --data-id (and --collections).")
    names = resolve_collections(butler, collections) or None
    found = butler.find_dataset(dataset_type, merged_data_id(data_id), collections=names)
    if found is None:
        raise DatasetNotFoundError(f"No {dataset_type} dataset with that data ID in the collections searched.")
    return found


def _ref_options(func: Any) -> Any:
    func = click.option("--type", "-t", "dataset_type", metavar="NAME", help="Dataset type (instead of an ID).")(func)
    func = data_id_option(func)
    func = collections_option(func)
    return click.argument("dataset_id", required=False, metavar="[DATASET_ID]")(func)


def _node_row(node: LineageNode) -> dict[str, Any]:
    row: dict[str, Any] = {"depth": node.depth, "dataset_type": node.dataset_type, "id": node.id}
    if node.ref is None:
        row["run"] = "(removed)"
    else:
        row["run"] = node.ref.run
        row["data_id"] = " ".join(f"{k}={v}" for k, v in node.ref.data_id.required.items())
    return row


def _walk(
    ctx: click.Context, repo: str, dataset_id: str | None, dataset_type: str | None, data_id: tuple[str, ...],
    collections: tuple[str, ...], direction: str, depth: int | None, dot: str | None, render: str | None, fmt: str,
) -> None:  # fmt: skip
    butler = open_butler(ctx, repo)
    ref = _one_ref(butler, dataset_id, dataset_type, data_id, collections)
    nodes = butler.lineage(ref, direction=direction, depth=depth)
    what = "inputs" if direction == "up" else "datasets that used it"
    emit([_node_row(n) for n in nodes], fmt, empty=f"No {what} recorded for {ref.dataset_type.name} {ref.id}.")
    if dot is None:
        if render is not None:
            raise click.UsageError("--render needs --dot FILE (where the graph goes).")
        return
    path = Path(dot)
    path.write_text(butler.lineage_dot(ref, direction=direction, depth=depth))
    click.echo(f"Wrote {path} (Graphviz DOT).", err=fmt != "table")
    if render is not None:
        exe = shutil.which("dot")
        if exe is None:
            click.echo(
                "Graphviz is not installed (no `dot` program on PATH), so the graph was not rendered; install "
                f"graphviz, or render {path} elsewhere.",
                err=True,
            )
            return
        image = path.with_suffix(f".{render}")
        subprocess.run([exe, f"-T{render}", str(path), "-o", str(image)], check=True)
        click.echo(f"Rendered {image}.", err=fmt != "table")


def _walk_command(direction: str, name: str, doc: str) -> click.Command:
    @click.command(name=name, help=doc)
    @repo_argument
    @_ref_options
    @click.option("--depth", type=click.IntRange(min=1), help="Edges to follow (default: to the end).")
    @click.option("--dot", metavar="FILE", help="Also write the graph as a Graphviz DOT file.")
    @click.option("--render", type=click.Choice(["svg", "png"]), help="Render the DOT file (needs Graphviz).")
    @format_option
    @click.pass_context
    def command(
        ctx: click.Context, repo: str, dataset_id: str | None, dataset_type: str | None, data_id: tuple[str, ...],
        collections: tuple[str, ...], depth: int | None, dot: str | None, render: str | None, fmt: str,
    ) -> None:  # fmt: skip
        _walk(ctx, repo, dataset_id, dataset_type, data_id, collections, direction, depth, dot, render, fmt)

    return command


lineage = _walk_command(
    "up",
    "lineage",
    "Show what a dataset was made from.\n\nEvery dataset recorded as an input of DATASET_ID (or of the dataset "
    "--type/--data-id finds in --collections), to any depth, nearest first.",
)
impact = _walk_command(
    "down",
    "impact",
    "Show every dataset that used a dataset.\n\nEverything made from DATASET_ID (or from the dataset "
    "--type/--data-id finds), transitively, nearest first: what to redo when it was bad.",
)


@click.command()
@repo_argument
@click.argument("run")
@click.option("--packages", is_flag=True, help="List every distribution and version instead of the summary.")
@format_option
@click.pass_context
def run_info(ctx: click.Context, repo: str, run: str, packages: bool, fmt: str) -> None:
    """Show who made a RUN, where, when and with what.

    Host, user, command line, working folder, start and end, configuration, and the software environments.
    """
    butler = open_butler(ctx, repo)
    info = butler.run_info(run)
    if packages:
        listing = [
            {"environment": env.digest[:12], "distribution": name, "version": version}
            for env in info.environments
            for name, version in env.packages.items()
        ]
        emit(listing, fmt, empty="No environment recorded.")
        return
    import json

    rows: list[dict[str, Any]] = [
        {"field": "run", "value": info.run},
        {"field": "host", "value": info.host},
        {"field": "user", "value": info.user},
        {"field": "command", "value": info.command},
        {"field": "cwd", "value": info.cwd},
        {"field": "started", "value": _utc(info.started)},
        {"field": "ended", "value": _utc(info.ended)},
        {"field": "config", "value": None if info.config is None else json.dumps(info.config, sort_keys=True)},
    ]
    for env in info.environments:
        rows.append({"field": "environment", "value": f"{env.digest[:12]} python {env.python}, "
                     f"{len(env.packages)} distributions, {env.platform}"})  # fmt: skip
    for label, ref in info.task_configs.items():
        rows.append({"field": f"config:{label}", "value": str(ref.id)})
    emit(rows, fmt)


@click.command()
@repo_argument
@collections_option
@click.option("--as-of", metavar="TIME", help="Answer as known then (ISO, UTC); default: now.")
@click.option("--dataset-type", "dataset_types", multiple=True, help="Only these calibration types (repeatable).")
@format_option
@click.pass_context
def invalidated(
    ctx: click.Context, repo: str, collections: tuple[str, ...], as_of: str | None, dataset_types: tuple[str, ...],
    fmt: str,
) -> None:  # fmt: skip
    """List outputs whose calibration inputs are no longer valid.

    For the CALIBRATION collections in --collections: each output that used a calibration which, as known
    now (or --as-of), is not the one valid at the output's observation time, with the one valid instead.
    """
    butler = open_butler(ctx, repo)
    names = resolve_collections(butler, collections) or None
    found = butler.invalidated(names, as_of=as_of, dataset_types=dataset_types or None)
    rows = []
    for item in found:
        used = item.used if isinstance(item.used, uuid.UUID) else item.used.id
        rows.append({
            "output_type": item.output.dataset_type.name,
            "output": " ".join(f"{k}={v}" for k, v in item.output.data_id.required.items()),
            "output_id": item.output.id,
            "used": used,
            "now_valid": None if item.now_valid is None else item.now_valid.id,
            "observed": iso_utc(item.observed),
            "reason": item.reason,
        })  # fmt: skip
    emit(rows, fmt, empty="Nothing invalidated: every recorded calibration input is still the valid one.")


@click.command()
@repo_argument
@_ref_options
@click.option("--level", default=None, metavar="LEVEL", help="Only records at this level or above (e.g. WARNING).")
@format_option
@click.pass_context
def logs(
    ctx: click.Context, repo: str, dataset_id: str | None, dataset_type: str | None, data_id: tuple[str, ...],
    collections: tuple[str, ...], level: str | None, fmt: str,
) -> None:  # fmt: skip
    """Print a stored log (a LogRecords dataset, e.g. from capture_logs)."""
    butler = open_butler(ctx, repo)
    ref = _one_ref(butler, dataset_id, dataset_type, data_id, collections)
    records = butler.get(ref, parameters=None if level is None else {"level": level})
    if fmt == "table":
        click.echo(str(records) if records else "No log records.")
        return
    rows = [
        {
            "time": _utc(int(r.time * 1e9)),
            "level": r.level,
            "logger": r.logger,
            "message": r.message,
            "exception": r.exc_text,
        }
        for r in records
    ]
    emit(rows, fmt)
