"""The abstract syntax of `where` expressions: frozen dataclasses that print back as valid source."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "And",
    "Arith",
    "Bind",
    "Call",
    "Compare",
    "Identifier",
    "In",
    "Literal",
    "Neg",
    "Node",
    "Not",
    "Or",
    "Overlaps",
    "Pair",
    "Range",
    "TimeLiteral",
]


@dataclass(frozen=True, slots=True)
class Identifier:
    """A dimension (``visit``) or a field of an element (``visit.exposure_time``, ``exposure.timespan``)."""

    element: str
    field: str | None = None
    pos: int = dataclasses.field(default=0, compare=False)
    """Character offset in the source, for error carets (not part of equality)."""

    def __str__(self) -> str:
        return self.element if self.field is None else f"{self.element}.{self.field}"


@dataclass(frozen=True, slots=True)
class Literal:
    """A string, number or boolean."""

    value: str | int | float | bool

    def __str__(self) -> str:
        if isinstance(self.value, bool):
            return "TRUE" if self.value else "FALSE"
        if isinstance(self.value, str):
            return "'" + self.value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return repr(self.value)


@dataclass(frozen=True, slots=True)
class TimeLiteral:
    """A time, stored as TAI nanoseconds (written ``T'2025-01-01T00:00:00'`` -- UTC unless it says TAI)."""

    tai_ns: int
    text: str

    def __str__(self) -> str:
        return f"T'{self.text}'"


@dataclass(frozen=True, slots=True)
class Bind:
    """A ``:name`` placeholder, filled from the ``bind=`` mapping of the query."""

    name: str
    pos: int = dataclasses.field(default=0, compare=False)

    def __str__(self) -> str:
        return f":{self.name}"


@dataclass(frozen=True, slots=True)
class Call:
    """A region function: ``POINT(ra, dec)``, ``CIRCLE(ra, dec, r)``, ``BOX``, ``POLYGON``, ``REGION('pos')``."""

    name: str
    """Upper case: ``POINT``, ``CIRCLE``, ``BOX``, ``POLYGON`` or ``REGION``."""
    args: tuple[Node, ...]
    pos: int = dataclasses.field(default=0, compare=False)

    def __str__(self) -> str:
        return f"{self.name}({', '.join(map(str, self.args))})"


@dataclass(frozen=True, slots=True)
class Range:
    """``start..stop[:step]`` inside ``IN (...)``: integers from start to stop inclusive."""

    start: int
    stop: int
    step: int = 1

    def __str__(self) -> str:
        return f"{self.start}..{self.stop}" + (f":{self.step}" if self.step != 1 else "")

    def values(self) -> range:
        """The integers it stands for."""
        return range(self.start, self.stop + 1, self.step)


@dataclass(frozen=True, slots=True)
class Pair:
    """``(begin, end)``: a timespan literal for OVERLAPS."""

    begin: Node
    end: Node

    def __str__(self) -> str:
        return f"({self.begin}, {self.end})"


@dataclass(frozen=True, slots=True)
class Neg:
    """Unary minus."""

    operand: Node

    def __str__(self) -> str:
        return f"-({self.operand})"


@dataclass(frozen=True, slots=True)
class Arith:
    """``left op right`` with op one of ``+ - * / %``."""

    op: str
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"({self.left} {self.op} {self.right})"


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op right`` with op one of ``= != < <= > >=``."""

    op: str
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True, slots=True)
class In:
    """``expr [NOT] IN (items)``."""

    expr: Node
    items: tuple[Node, ...]
    negated: bool = False

    def __str__(self) -> str:
        return f"{self.expr} {'NOT IN' if self.negated else 'IN'} ({', '.join(map(str, self.items))})"


@dataclass(frozen=True, slots=True)
class Overlaps:
    """``left OVERLAPS right`` between timespans, or between sky regions (see `skybutler.query._spatial`)."""

    left: Node
    right: Node

    def __str__(self) -> str:
        return f"{self.left} OVERLAPS {self.right}"


@dataclass(frozen=True, slots=True)
class Not:
    """Logical negation."""

    operand: Node

    def __str__(self) -> str:
        return f"NOT ({self.operand})"


@dataclass(frozen=True, slots=True)
class And:
    """Logical conjunction."""

    items: tuple[Node, ...]

    def __str__(self) -> str:
        return " AND ".join(f"({i})" for i in self.items)


@dataclass(frozen=True, slots=True)
class Or:
    """Logical disjunction."""

    items: tuple[Node, ...]

    def __str__(self) -> str:
        return " OR ".join(f"({i})" for i in self.items)


Node: TypeAlias = (
    "Identifier | Literal | TimeLiteral | Bind | Call | Range | Pair | Neg | Arith | Compare | In | Overlaps | Not"
    " | And | Or"
)
