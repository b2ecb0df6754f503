"""Provenance for the butler: inputs on put, lineage and impact as refs, runs' records, and what a changed
calibration invalidates.  Functions of the registry, called by thin `Butler` methods.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skybutler.butler._calibration_time import OBSERVATION_DIMENSIONS
from skybutler.datasets import DatasetRef, as_uuid
from skybutler.dimensions import DataCoordinate
from skybutler.errors import CollectionError, ConflictError, DataIdError, DatasetTypeError
from skybutler.registry import CollectionType

if TYPE_CHECKING:
    from skybutler.registry import CollectionRecord, Registry
    from skybutler.registry._provenance import Direction
    from skybutler.registry._run_records import RunRecord

__all__ = [
    "InputsLike",
    "Invalidation",
    "LineageNode",
    "RunDiff",
    "diff_records",
    "input_ids",
    "invalidated",
    "lineage",
    "refs_by_id",
    "refuse_used",
]

InputsLike = Iterable[DatasetRef | uuid.UUID | str]


@dataclass(frozen=True, slots=True)
class LineageNode:
    """A dataset reached by `Butler.lineage` or `Butler.impact`, at its shortest distance from the start.

    ``ref`` is None for a dataset removed since it was used: the record keeps its ID and dataset type.
    """

    id: uuid.UUID
    dataset_type: str
    depth: int
    ref: DatasetRef | None

    @property
    def removed(self) -> bool:
        """Whether the dataset is no longer in the registry."""
        return self.ref is None


@dataclass(frozen=True, slots=True)
class Invalidation:
    """An output that used a calibration which, as known at the time asked, is no longer the valid one."""

    output: DatasetRef
    used: DatasetRef | uuid.UUID
    """The calibration the output used (its ID alone when it has been removed)."""
    now_valid: DatasetRef | None
    """The calibration valid at the output's observation time now (None: none is)."""
    observed: int
    """The output's observation time (TAI ns, the middle of its exposure or visit)."""
    collection: str
    """The CALIBRATION collection that said which calibration was valid."""

    @property
    def reason(self) -> str:
        """In words: replaced by another, or decertified (none valid at that time any more)."""
        if self.now_valid is None:
            return "decertified: no calibration is valid at the observation time"
        return f"replaced by {self.now_valid.id}"


@dataclass(frozen=True, slots=True)
class RunDiff:
    """What differs between two runs' records (`Butler.diff_runs`)."""

    packages: dict[str, tuple[str | None, str | None]]
    """Distribution → (version in a, version in b), for those that differ (None: not installed)."""
    config: dict[str, tuple[Any, Any]]
    """Configuration key (dotted for nested mappings) → (value in a, value in b), for those that differ."""
    python: tuple[str, str] | None

    def __bool__(self) -> bool:
        return bool(self.packages or self.config or self.python)


def input_ids(inputs: InputsLike | None) -> list[uuid.UUID]:
    """Dataset IDs of ``inputs`` (refs, UUIDs or their text), in order, without repeats."""
    if inputs is None:
        return []
    if isinstance(inputs, DatasetRef | uuid.UUID | str):
        inputs = [inputs]
    out: list[uuid.UUID] = []
    for item in inputs:
        if isinstance(item, DatasetRef):
            out.append(item.id)
        elif isinstance(item, uuid.UUID):
            out.append(item)
        else:
            try:
                out.append(uuid.UUID(str(item)))
            except ValueError:
                raise DataIdError(f"Input {item!r} is neither a DatasetRef nor a dataset ID (UUID).") from None
    return list(dict.fromkeys(out))


def refs_by_id(registry: Registry, typed_ids: Iterable[tuple[uuid.UUID, str]]) -> dict[uuid.UUID, DatasetRef]:
    """The refs of the registered datasets among ``(id, dataset type name)`` pairs (removed ones are absent)."""
    by_type: dict[str, list[uuid.UUID]] = {}
    for dataset_id, type_name in typed_ids:
        by_type.setdefault(type_name, []).append(dataset_id)
    out: dict[uuid.UUID, DatasetRef] = {}
    for type_name, ids in by_type.items():
        try:
            stored = registry.dataset_types.get(type_name)
        except DatasetTypeError:
            continue  # the type itself was removed: so were its datasets
        dt = stored.dataset_type
        runs: dict[int, str] = {}
        for dataset_id, values, run_id in registry.lineage.births(stored, ids):
            run = runs.get(run_id)
            if run is None:
                run = runs[run_id] = registry.collections.by_id(run_id).name
            out[dataset_id] = DatasetRef(dataset_id, dt, DataCoordinate.from_required(dt.dimensions, values), run)
    return out


def lineage(
    registry: Registry, start: Sequence[uuid.UUID], direction: Direction, depth: int | None
) -> list[LineageNode]:
    """Every dataset upstream (``up``) or downstream (``down``) of ``start``, nearest first."""
    if depth is not None and depth < 1:
        raise DataIdError(f"depth={depth}: give 1 or more (edges to follow), or None for the whole graph.")
    reached = registry.lineage.walk(start, direction, depth)
    refs = refs_by_id(registry, ((r.id, r.dataset_type) for r in reached))
    nodes = [LineageNode(r.id, r.dataset_type, r.depth, refs.get(r.id)) for r in reached]
    nodes.sort(key=_reading_order)
    return nodes


def _reading_order(node: LineageNode) -> tuple[Any, ...]:
    """Nearest first, then by dataset type, run and data ID (stable across repositories, unlike the random IDs)."""
    ref = node.ref
    if ref is None:
        return (node.depth, node.dataset_type, 1, "", (), str(node.id))
    return (node.depth, node.dataset_type, 0, ref.run, tuple(str(v) for v in ref.data_id.required_values), str(node.id))


def refuse_used(registry: Registry, ids: Sequence[uuid.UUID]) -> None:
    """Refuse to remove datasets that other (kept) datasets record as inputs."""
    with registry.db.transaction(write=False) as conn:
        used = registry.lineage.users(conn, ids)
    if used:
        pairs = ", ".join(f"{i} by {o}" for i, o in used[:3])
        raise ConflictError(
            f"Dataset(s) to remove are recorded as inputs of others ({pairs}); pass even_if_used=True to remove "
            "them anyway (the lineage records keep their IDs and dataset types), or remove the outputs too."
        )


# -- invalidated -----------------------------------------------------------------------------------------------
def _observation_time(registry: Registry, data_id: DataCoordinate) -> int | None:
    """The middle of the exposure or visit of an output's data ID (None when it has neither, or no timespan)."""
    values = dict(data_id)
    for name in OBSERVATION_DIMENSIONS:
        if name in values and "instrument" in values:
            record = registry.records.fetch_one(name, (values["instrument"], values[name]))
            span = None if record is None else record.timespan
            if span is not None and span.begin is not None and span.end is not None:
                return int(span.begin + (span.end - span.begin) // 2)
    return None


def invalidated(
    registry: Registry, leaves: Sequence[CollectionRecord], as_of: int, dataset_types: Iterable[str] | None
) -> list[Invalidation]:
    """Outputs whose calibration inputs, as recorded at ``as_of``, are not the ones valid at their observation time.

    For every calibration dataset type certified in the CALIBRATION collections of ``leaves``: the
    certification history is read once; each recorded use of one of its datasets (an edge recorded by
    ``as_of``) is checked against the first of those collections that had certified the used dataset by
    then, at the output's observation time.
    """
    calib = [c for c in leaves if c.type is CollectionType.CALIBRATION]
    if not calib:
        names = ", ".join(c.name for c in leaves) or "(none)"
        raise CollectionError(f"No CALIBRATION collection among {names}; give the calibration collections to check.")
    wanted = None if dataset_types is None else set(dataset_types)
    types = [s for s in registry.dataset_types.all() if s.dataset_type.is_calibration and s.calibs is not None]
    types = [s for s in types if wanted is None or s.dataset_type.name in wanted]
    edges = registry.lineage.edges_of_input_types([s.dataset_type.name for s in types], recorded_before=as_of)
    if not edges:
        return []
    outputs = refs_by_id(registry, ((e.output, e.output_type) for e in edges))
    out: list[Invalidation] = []
    times: dict[uuid.UUID, int | None] = {}
    for stored in types:
        name = stored.dataset_type.name
        uses = [e for e in edges if e.input_type == name and e.output in outputs]
        if not uses:
            continue
        histories = [(c, registry.calibrations.history(stored, c.id)) for c in calib]
        # rows known at as_of: certified (recorded_begin) by then
        known = [
            (c, [r for r in rows if r.recorded.begin is None or r.recorded.begin <= as_of]) for c, rows in histories
        ]
        replacements: set[uuid.UUID] = set()
        pending: list[tuple[Any, ...]] = []
        for edge in uses:
            where = next(((c, rows) for c, rows in known if any(r.dataset_id == edge.input for r in rows)), None)
            if where is None:
                continue  # not a calibration of these collections: nothing to say about it
            collection, rows = where
            data_id = next(r.data_id for r in rows if r.dataset_id == edge.input)
            if edge.output not in times:
                times[edge.output] = _observation_time(registry, outputs[edge.output].data_id)
            t = times[edge.output]
            if t is None:
                continue
            current = [r for r in rows if r.data_id == data_id and r.recorded.contains(as_of) and r.valid.contains(t)]
            valid_id = current[0].dataset_id if current else None
            if valid_id == edge.input:
                continue
            if valid_id is not None:
                replacements.add(valid_id)
            pending.append((edge, valid_id, t, collection.name))
        found = refs_by_id(registry, [(i, name) for i in {*replacements, *(p[0].input for p in pending)}])
        for edge, valid_id, t, collection_name in pending:
            used: DatasetRef | uuid.UUID = found.get(edge.input, edge.input)
            now = None if valid_id is None else found.get(valid_id)
            out.append(Invalidation(outputs[edge.output], used, now, t, collection_name))
    out.sort(key=lambda i: (i.output.dataset_type.name, str(i.output.data_id), str(i.output.id)))
    return out


# -- runs ------------------------------------------------------------------------------------------------------
def _flatten(config: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (config or {}).items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def diff_records(a: RunRecord, b: RunRecord) -> RunDiff:
    """What differs between two run records: distribution versions, configuration values, Python."""
    pa: dict[str, str] = {}
    for env in a.environments:
        pa.update(env.packages)
    pb: dict[str, str] = {}
    for env in b.environments:
        pb.update(env.packages)
    packages = {k: (pa.get(k), pb.get(k)) for k in sorted({*pa, *pb}) if pa.get(k) != pb.get(k)}
    ca, cb = _flatten(a.config), _flatten(b.config)
    config = {k: (ca.get(k), cb.get(k)) for k in sorted({*ca, *cb}) if ca.get(k) != cb.get(k)}
    py_a = ",".join(sorted({e.python for e in a.environments}))
    py_b = ",".join(sorted({e.python for e in b.environments}))
    return RunDiff(packages, config, None if py_a == py_b else (py_a, py_b))


# -- configs ---------------------------------------------------------------------------------------------------
CONFIG_SUFFIX = "_config"


def task_configs(registry: Registry, run: CollectionRecord) -> dict[str, DatasetRef]:
    """Task label → its ``<label>_config`` dataset in ``run`` (dataset types without dimensions)."""
    out: dict[str, DatasetRef] = {}
    for stored in registry.dataset_types.all():
        dt = stored.dataset_type
        if not dt.name.endswith(CONFIG_SUFFIX) or len(dt.dimensions.required) or dt.is_calibration:
            continue
        for row in registry.datasets.in_run(stored, run.id):
            coord = DataCoordinate.from_required(dt.dimensions, row.values)
            out[dt.name.removesuffix(CONFIG_SUFFIX)] = DatasetRef(as_uuid(row.id), dt, coord, run.name)
    return out


# -- drawing ---------------------------------------------------------------------------------------------------
def to_dot(registry: Registry, start: DatasetRef, nodes: Sequence[LineageNode]) -> str:
    """A Graphviz DOT graph of ``start`` and ``nodes``, an arrow from each input to what used it."""
    ids = {start.id, *(n.id for n in nodes)}
    edges = [e for e in registry.lineage.edges(ids, of="either") if e.output in ids and e.input in ids]

    def label(dataset_type: str, ref: DatasetRef | None) -> str:
        if ref is None:
            return f"{dataset_type}\\n(removed)"
        data_id = ", ".join(f"{k}={v}" for k, v in ref.data_id.required.items())
        return f"{dataset_type}\\n{data_id}\\n{ref.run}".replace('"', "'")

    lines = ["digraph lineage {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    lines.append(f'  "{start.id}" [label="{label(start.dataset_type.name, start)}", style=bold];')
    for node in nodes:
        style = ", style=dashed" if node.ref is None else ""
        lines.append(f'  "{node.id}" [label="{label(node.dataset_type, node.ref)}"{style}];')
    for edge in sorted(edges, key=lambda e: (str(e.input), str(e.output))):
        lines.append(f'  "{edge.input}" -> "{edge.output}";')
    lines.append("}")
    return "\n".join(lines) + "\n"
