"""Provenance carried by export/import and repo-to-repo transfer: lineage edges and run records.

The export document stays what the reference butler reads; provenance travels beside it, as JSON:
``<export>.provenance.json`` next to a YAML file, ``provenance.json`` in a zip archive.  It holds the edges
whose output is an exported dataset (inputs may be left out of the export: the edges keep their IDs and
types, as for removed datasets), the records of the exported runs, and their environments once each.
Logs and configurations are datasets, and travel as such.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skybutler.registry import CollectionType, Edge, Environment

if TYPE_CHECKING:
    from skybutler.registry import Registry

__all__ = ["ZIP_MEMBER", "apply_provenance", "collect_provenance", "dumps", "read_provenance", "sidecar_path"]

ZIP_MEMBER = "provenance.json"
_RUN_FIELDS = ("host", "user_name", "command", "cwd", "started", "ended", "config")


def sidecar_path(export: Path) -> Path:
    """Where the provenance of a YAML export file goes: ``x.yaml`` → ``x.provenance.json``."""
    return export.with_suffix(".provenance.json")


def collect_provenance(registry: Registry, ids: Sequence[uuid.UUID], runs: Iterable[str]) -> dict[str, Any]:
    """Edges out of ``ids`` and the records of ``runs``, as a JSON-ready mapping."""
    wanted = set(ids)
    edges = [
        [str(e.output), str(e.input), e.output_type, e.input_type, e.recorded]
        for e in registry.lineage.edges(wanted)
        if e.output in wanted
    ]
    records: dict[str, Any] = {}
    environments: dict[str, Any] = {}
    for name in sorted(set(runs)):
        run = registry.collections.find(name)
        found = None if run is None else registry.runs.get(run.id, name)
        if found is None:
            continue
        records[name] = {
            "host": found.host, "user_name": found.user, "command": found.command, "cwd": found.cwd,
            "started": found.started, "ended": found.ended, "config": found.config,
            "environments": [env.digest for env in found.environments],
        }  # fmt: skip
        for env in found.environments:
            environments[env.digest] = env.to_json()
    return {"version": 1, "edges": edges, "runs": records, "environments": environments}


def apply_provenance(registry: Registry, data: Mapping[str, Any]) -> tuple[int, int]:
    """Store what `collect_provenance` wrote (in the caller's transaction): ``(edges added, runs recorded)``.

    Edges are kept only for outputs that are registered here; run records only for RUN collections that
    exist here and have none yet.
    """
    envs = {digest: Environment.from_json(env) for digest, env in data.get("environments", {}).items()}
    runs = 0
    for name, record in data.get("runs", {}).items():
        run = registry.collections.find(name)
        if run is None or run.type is not CollectionType.RUN:
            continue
        if registry.runs.get(run.id, name) is None:
            runs += 1
        info = {k: record.get(k) for k in _RUN_FIELDS}
        registry.record_provenance(run, info=info, environments=[envs[d] for d in record.get("environments", [])])
    edges = [
        Edge(uuid.UUID(out), uuid.UUID(inp), out_type, in_type, int(recorded))
        for out, inp, out_type, in_type, recorded in data.get("edges", [])
    ]
    present = registry.datasets.existing(list({e.output for e in edges}))
    return registry.lineage.restore([e for e in edges if e.output in present]), runs


def dumps(data: Mapping[str, Any]) -> str:
    """The sidecar's text."""
    return json.dumps(data, indent=1, sort_keys=True, default=str)


def read_provenance(source: str, archive: Any) -> dict[str, Any] | None:
    """The provenance beside an export (None for exports without it: older ones, or the reference's)."""
    from skybutler.errors import ExportFormatError

    try:
        if archive is not None:
            if ZIP_MEMBER not in archive.namelist():
                return None
            text = archive.read(ZIP_MEMBER).decode("utf-8")
        else:
            path = sidecar_path(Path(source))
            if not path.exists():
                return None
            text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ExportFormatError(f"The provenance beside {source} cannot be read ({exc}); remove it to import "
                                "without lineage and run records, or export again.") from None  # fmt: skip
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ExportFormatError(f"The provenance beside {source} is not a version 1 provenance file.")
    return data
