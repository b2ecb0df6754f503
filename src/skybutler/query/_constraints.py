"""`Constraints`: what a query call is constrained by besides its ``where`` tree, as one frozen value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skybutler.query._builder import governor_inputs, infer_governors
from skybutler.query._parser import parse_where

if TYPE_CHECKING:
    from skybutler.dimensions import DataIdInput
    from skybutler.registry import Registry

__all__ = ["Constraints", "prepare"]


@dataclass(frozen=True, slots=True)
class Constraints:
    """The data-ID values (with the governors inferred from the registry), alternate keys and bind values.

    Statement builders read it; nothing writes it after it is made, so one value can be shared by a result
    object, the statements it builds lazily and the query plans derived from them (`_plans`).
    """

    values: Mapping[str, Any]
    """Dimension → value: the call's data ID, plus governors the registry implies (one instrument, say)."""
    alternates: Mapping[str, Mapping[str, Any]]
    """Dimension → {alternate key → value} (``visit.name``)."""
    bind: Mapping[str, Any]
    """Bind values of the ``where`` expression."""
    spatial: list[Any] = field(default_factory=list, compare=False)
    """Reports of the spatial step (`_spatial.SpatialReport`), appended as statements are built or a spatial
    plan's program runs: the one part filled after the value is made.  A call with one is planned only when its
    report carries a program (`_spatial_plan`, PostgreSQL)."""
    estimated: list[bool] = field(default_factory=list, compare=False)
    """Filled when a statement's `where` carries range estimates (SQLite, `registry._statistics`): its SQL
    depends on its values, which keeps such calls out of the plan cache."""

    @classmethod
    def of(cls, given: DataIdInput, bind: Mapping[str, Any] | None, added: Mapping[str, Any]) -> Constraints:
        """The constraints of a call: its data ID ``given`` and ``bind``, plus the governors ``added``."""
        return cls({**given.values, **added}, given.alternates, dict(bind or {}))


def prepare(
    registry: Registry, where: str, bind: Mapping[str, Any] | None, given: DataIdInput
) -> tuple[Any, Constraints]:
    """The parsed ``where`` tree and the call's constraints, with the governors it implies inferred."""
    node = parse_where(where)
    constrained = list(given.values) + list(given.alternates)
    added = infer_governors(registry, constrained, *governor_inputs(registry.universe, node))
    return node, Constraints.of(given, bind, added)
