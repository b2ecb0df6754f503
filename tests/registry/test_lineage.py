"""Lineage edges in the registry: random DAGs walked by recursive SQL, checked against an in-memory model.

Each hypothesis example builds a fresh graph (new dataset IDs, its own run) in one registry per back-end, so
examples do not see each other's edges; the number of examples is bounded to keep each back-end well under
a minute.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybutler.datasets import DatasetType
from skybutler.dimensions import DimensionUniverse
from skybutler.errors import ConflictError, DatasetNotFoundError
from skybutler.registry import CollectionType, NewDataset, Registry

N_DETECTORS = 16


@pytest.fixture
def lineage_registry(registry_url: tuple[str, str | None]) -> Iterator[Registry]:
    """A registry (default universe) with instrument Cam, detectors 0..15 and the dataset type ``node``."""
    url, schema = registry_url
    registry = Registry.create(url, universe=DimensionUniverse.default(), schema=schema)
    registry.insert_dimension_records("instrument", [{"name": "Cam", "detector_max": 100, "visit_max": 100}])
    registry.insert_dimension_records(
        "detector", [{"instrument": "Cam", "id": i, "full_name": f"S{i}"} for i in range(N_DETECTORS)]
    )
    dims = registry.universe.group(["instrument", "detector"])
    registry.register_dataset_type(DatasetType("node", dims, "StructuredDataDict"))
    yield registry
    registry.close()


def _datasets(registry: Registry, n: int) -> list[uuid.UUID]:
    """``n`` registered datasets of type ``node`` in a new run."""
    stored = registry.dataset_types.get("node")
    run = registry.collections.register(f"run/{uuid.uuid4().hex}", CollectionType.RUN)[0]
    ids = [uuid.uuid4() for _ in range(n)]
    registry.datasets.insert(stored, run.id, [NewDataset(i, ("Cam", k), None) for k, i in enumerate(ids)])
    return ids


def _model_walk(edges: set[tuple[int, int]], start: int, direction: str, depth: int | None) -> dict[int, int]:
    """Breadth-first walk of ``(output, input)`` pairs: node → shortest distance from ``start``."""
    step: dict[int, list[int]] = {}
    for out, inp in edges:
        a, b = (out, inp) if direction == "up" else (inp, out)
        step.setdefault(a, []).append(b)
    seen: dict[int, int] = {}
    frontier, d = [start], 0
    while frontier and (depth is None or d < depth):
        d += 1
        nxt = []
        for node in frontier:
            for target in step.get(node, []):
                if target not in seen:
                    seen[target] = d
                    nxt.append(target)
        frontier = nxt
    return seen


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, set[tuple[int, int]]]:
    """A random DAG: nodes 0..n-1, edges (output j, input i) with i < j, so no cycle; diamonds are common."""
    n = draw(st.integers(2, N_DETECTORS))
    pairs = [(j, i) for j in range(n) for i in range(j)]
    chosen = draw(st.lists(st.sampled_from(pairs), max_size=40, unique=True)) if pairs else []
    return n, set(chosen)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=dags(), data=st.data())
def test_walks_match_the_model(
    lineage_registry: Registry, graph: tuple[int, set[tuple[int, int]]], data: st.DataObject
) -> None:
    registry = lineage_registry
    n, edges = graph
    ids = _datasets(registry, n)
    outputs: dict[uuid.UUID, tuple[str, list[uuid.UUID]]] = {}
    for out, inp in sorted(edges):
        outputs.setdefault(ids[out], ("node", []))[1].append(ids[inp])
    registry.lineage.add(outputs, recorded=1)
    start = data.draw(st.integers(0, n - 1), label="start")
    depth = data.draw(st.one_of(st.none(), st.integers(1, 4)), label="depth")
    for direction in ("up", "down"):
        expected = {ids[k]: d for k, d in _model_walk(edges, start, direction, depth).items()}
        got = {r.id: r.depth for r in registry.lineage.walk([ids[start]], direction, depth)}
        assert got == expected, (direction, depth)


def test_a_diamond_is_reached_once_at_its_shortest_depth(lineage_registry: Registry) -> None:
    registry = lineage_registry
    a, b, c, d, e = _datasets(registry, 5)
    # e uses d and b; d uses b and c; b and c use a: a is at depth 2 (e→b→a) and 3 (e→d→b→a)
    registry.lineage.add({b: ("node", [a]), c: ("node", [a]), d: ("node", [b, c]), e: ("node", [d, b])}, recorded=1)
    up = {r.id: r.depth for r in registry.lineage.walk([e], "up")}
    assert up == {d: 1, b: 1, c: 2, a: 2}
    assert {r.id: r.depth for r in registry.lineage.walk([e], "up", 1)} == {d: 1, b: 1}
    down = {r.id: r.depth for r in registry.lineage.walk([a], "down")}
    assert down == {b: 1, c: 1, d: 2, e: 2}
    assert all(r.dataset_type == "node" for r in registry.lineage.walk([a], "down"))


def _edge_count(registry: Registry) -> int:
    return len(registry.lineage.all_edges())


def test_an_unknown_input_is_refused_with_nothing_written(lineage_registry: Registry) -> None:
    registry = lineage_registry
    a, b = _datasets(registry, 2)
    ghost = uuid.uuid4()
    with pytest.raises(DatasetNotFoundError, match=str(ghost)):
        registry.lineage.add({b: ("node", [a, ghost])}, recorded=1)
    assert _edge_count(registry) == 0


def test_cycles_are_refused_with_nothing_written(lineage_registry: Registry) -> None:
    registry = lineage_registry
    a, b, c = _datasets(registry, 3)
    registry.lineage.add({b: ("node", [a]), c: ("node", [b])}, recorded=1)
    with pytest.raises(ConflictError, match="cycle"):
        registry.lineage.add({a: ("node", [c])}, recorded=2)  # a → c → b → a
    with pytest.raises(ConflictError, match="itself"):
        registry.lineage.add({a: ("node", [a])}, recorded=2)
    with pytest.raises(ConflictError, match="cycle"):  # two new edges that close a loop between them
        registry.lineage.add({a: ("node", [c]), c: ("node", [a])}, recorded=2)
    assert _edge_count(registry) == 2
