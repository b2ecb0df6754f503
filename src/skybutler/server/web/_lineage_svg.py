"""The lineage graph as SVG, drawn on the server: inputs to the left, the dataset in the middle, users to the right.

Columns are distances along the graph (`LineageNode.depth`): the datasets a dataset was made from at ``-depth``,
those that used it at ``+depth``.  Each box links to its dataset page; a dataset in a RUN the caller may not
read is drawn as a box without its data ID, run or link, and a removed dataset as a dashed box.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skybutler.butler import LineageNode
    from skybutler.datasets import DatasetRef

__all__ = ["GraphNode", "lineage_svg"]

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 230, 54, 70, 16, 10
MAX_PER_COLUMN = 40


@dataclass
class GraphNode:
    """A box of the graph (also listed under it, as text)."""

    id: uuid.UUID
    dataset_type: str
    column: int
    label: str
    run: str | None
    state: str  # "start", "shown", "hidden" (not readable), "removed"
    x: int = 0
    y: int = 0


def _label(ref: DatasetRef) -> str:
    return ", ".join(f"{k}={v}" for k, v in ref.data_id.required.items())


def lineage_svg(
    start: DatasetRef,
    up: Sequence[LineageNode],
    down: Sequence[LineageNode],
    edges: Sequence[tuple[uuid.UUID, uuid.UUID]],
    may_read: Callable[[str], bool],
) -> tuple[str, list[GraphNode]]:
    """The SVG text of the graph and its nodes in drawing order."""
    nodes: dict[uuid.UUID, GraphNode] = {
        start.id: GraphNode(start.id, start.dataset_type.name, 0, _label(start), start.run, "start")
    }
    for sign, reached in ((-1, up), (1, down)):
        for n in reached:
            if n.id in nodes:
                continue
            if n.ref is None:
                node = GraphNode(n.id, n.dataset_type, sign * n.depth, "", None, "removed")
            elif not may_read(n.ref.run):
                node = GraphNode(n.id, n.dataset_type, sign * n.depth, "", None, "hidden")
            else:
                node = GraphNode(n.id, n.dataset_type, sign * n.depth, _label(n.ref), n.ref.run, "shown")
            nodes[n.id] = node
    columns: dict[int, list[GraphNode]] = {}
    for node in nodes.values():
        columns.setdefault(node.column, []).append(node)
    shown: dict[uuid.UUID, GraphNode] = {}
    first = min(columns)
    for column, members in columns.items():
        members.sort(key=lambda n: (n.dataset_type, n.label, str(n.id)))
        for row, node in enumerate(members[:MAX_PER_COLUMN]):
            node.x = MARGIN + (column - first) * (BOX_W + GAP_X)
            node.y = MARGIN + row * (BOX_H + GAP_Y)
            shown[node.id] = node
    width = MARGIN * 2 + (max(columns) - first + 1) * (BOX_W + GAP_X) - GAP_X
    height = MARGIN * 2 + max(min(len(m), MAX_PER_COLUMN) for m in columns.values()) * (BOX_H + GAP_Y) - GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="group" aria-label="Lineage graph of {escape(start.dataset_type.name)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for source, target in edges:
        a, b = shown.get(source), shown.get(target)
        if a is None or b is None:
            continue
        parts.append(
            f'<line class="edge" data-input="{a.id}" data-output="{b.id}" x1="{a.x + BOX_W}" y1="{a.y + BOX_H // 2}" '
            f'x2="{b.x}" y2="{b.y + BOX_H // 2}" stroke="#555" marker-end="url(#arrow)"/>'
        )
    for node in shown.values():
        parts.append(_box(node))
    parts.append("</svg>")
    return "\n".join(parts), list(shown.values())


def _box(node: GraphNode) -> str:
    style = {"start": "node start", "shown": "node", "hidden": "node hidden", "removed": "node removed"}[node.state]
    lines = [node.dataset_type]
    if node.state in ("start", "shown"):
        lines += [node.label, node.run or ""]
    else:
        lines.append("not readable" if node.state == "hidden" else "removed")
    x = node.x + 8
    text = "".join(f'<text x="{x}" y="{node.y + 16 + i * 15}">{escape(_clip(s))}</text>' for i, s in enumerate(lines))
    rect = f'<rect class="{style}" x="{node.x}" y="{node.y}" width="{BOX_W}" height="{BOX_H}" rx="4"/>'
    group = f'<g class="box" data-id="{node.id}" data-state="{node.state}">{rect}{text}</g>'
    if node.state in ("shown", "start"):
        return f'<a href="/web/dataset/{node.id.hex}">{group}</a>'
    return group


def _clip(text: str) -> str:
    return text if len(text) <= 34 else text[:31] + "..."
