"""A property-based `where` fuzzer, checked against a small pure-Python oracle on SQLite and PostgreSQL.

Issue 17: `visit % 2.5 = 1` answered one thing on SQLite and failed on PostgreSQL; nothing checked that every
accepted expression gives the same answer on both.  Here hypothesis builds well-typed expressions over a fixed
set of visit records (integers, floats, strings, timespans, NULL-able fields, negative numbers, mixed case and
non-ASCII text), prints them, and runs them through `query_data_ids` on both back-ends; the oracle evaluates
the same tree in Python with SQL's three-valued logic and the documented semantics (docs/queries.md: true
division, `%` with the sign of the dividend, code point string order, half-open timespans).  Ill-typed trees
and garbage text must raise only our errors, the same class on both back-ends.

Bounded for CI: fixed ``max_examples``, derandomized, one database per back-end built once for the module.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybutler.butler import Butler, DirectButler
from skybutler.dimensions import Timespan, db_instant, to_tai_ns
from skybutler.errors import QuerySyntaxError, SkyButlerError
from skybutler.query._ast import (
    And,
    Arith,
    Bind,
    Compare,
    Identifier,
    In,
    Literal,
    Neg,
    Node,
    Not,
    Or,
    Overlaps,
    Pair,
    Range,
    TimeLiteral,
)
from skybutler.query._parser import parse_where
from skybutler.testing.fixtures import POSTGRES_URL, fresh_schema, postgres_answers

pytestmark = pytest.mark.slow

NOON = "2025-01-01T12:00:00"
FILTERS = {"Cam-r": "r", "Cam-g": "g", "cam-Z": "Z", "Cäm-ü": "ü"}
# id, name, physical_filter, seq_num, exposure_time, target_name, timespan (begin, end minutes after noon) or None
VISITS: list[tuple[int, str, str, int | None, float | None, str | None, tuple[int | None, int | None] | None]] = [
    (-7, "neg", "Cam-r", -3, 15.0, "M31", (-30, -29)),
    (-1, "Neg", "Cam-g", None, -1.5, None, (0, 1)),
    (0, "zero", "Cam-r", 0, 0.0, "", (1, 2)),
    (1, "one", "Cam-g", 1, 30.5, "m31", (2, 3)),
    (2, "two", "cam-Z", 2, None, "M 31", None),
    (3, "ä", "Cäm-ü", 7, 2.25, "Ω", (3, 4)),
    (5, "B", "Cam-r", None, 45.0, "b", (None, -60)),
    (8, "a b", "Cam-g", 8, 1e-3, "NGC'1", (60, None)),
    (13, "Z", "cam-Z", -13, 60.0, None, (5, 5)),
    (21, "z", "Cam-r", 21, 0.1, "z", (10, 20)),
    (100, "hundred", "Cam-g", 100, 1e6, "M31", (15, 16)),
    (1000, "thousand", "Cäm-ü", None, None, "Andromeda", (1000, 1001)),
]
MINUTE = 60 * 10**9
NOON_TAI = to_tai_ns(NOON)


def _span(minutes: tuple[int | None, int | None] | None) -> Timespan | None:
    if minutes is None:
        return None
    begin, end = minutes
    return Timespan(
        None if begin is None else NOON_TAI + begin * MINUTE, None if end is None else NOON_TAI + end * MINUTE
    )


def _records() -> list[dict[str, Any]]:
    out = []
    for vid, name, pf, seq, exp, target, span in VISITS:
        ts = _span(span)
        out.append({
            "visit": vid, "name": name, "physical_filter": pf, "band": FILTERS[pf], "day_obs": 20250101,
            "seq_num": seq, "exposure_time": exp, "target_name": target,
            "timespan": None if ts is None else ts.to_db(),
        })  # fmt: skip
    return out


RECORDS = _records()


def _populate(butler: DirectButler) -> None:
    reg = butler.registry
    reg.insert_dimension_records("instrument", [{"name": "Cam", "detector_max": 10}])
    reg.insert_dimension_records("band", [{"name": b} for b in sorted(set(FILTERS.values()))])
    reg.insert_dimension_records(
        "physical_filter", [{"instrument": "Cam", "name": pf, "band": b} for pf, b in FILTERS.items()]
    )
    reg.insert_dimension_records(
        "day_obs", [{"instrument": "Cam", "id": 20250101, "timespan": ("2025-01-01T00:00", "2025-01-02T00:00")}]
    )
    reg.insert_dimension_records(
        "visit",
        [
            {"instrument": "Cam", "id": vid, "name": name, "physical_filter": pf, "day_obs": 20250101,
             "seq_num": seq, "exposure_time": exp, "target_name": target, "timespan": _span(span)}
            for vid, name, pf, seq, exp, target, span in VISITS
        ],
    )  # fmt: skip


@pytest.fixture(scope="module")
def butlers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DirectButler]]:
    """The fixed repository on SQLite and (when a server answers; always under CI) on PostgreSQL."""
    out = {"sqlite": DirectButler(Butler.create(tmp_path_factory.mktemp("fuzz") / "sqlite"), writeable=True)}
    _populate(out["sqlite"])
    reason = postgres_answers(POSTGRES_URL)
    if reason is not None and os.environ.get("CI"):
        pytest.fail(f"CI is set but no PostgreSQL answers at {POSTGRES_URL}: {reason}")
    with contextlib.ExitStack() as stack:
        if reason is None:
            schema = stack.enter_context(fresh_schema(POSTGRES_URL))
            root = Path(tmp_path_factory.mktemp("fuzz")) / "pg"
            out["postgres"] = DirectButler(Butler.create(root, registry=POSTGRES_URL, schema=schema), writeable=True)
            _populate(out["postgres"])
        yield out
        for butler in out.values():
            butler.close()


# -- the oracle ---------------------------------------------------------------------------------------------------
class _Null:
    """SQL NULL in the oracle (``None`` is also a Python value of the records)."""


NULL: Any = _Null()


def value(node: Node, rec: dict[str, Any], bind: dict[str, Any]) -> Any:
    if isinstance(node, Identifier):
        key = node.element if node.field in (None, "id") else node.field
        if node.element == "visit" and node.field == "name":
            key = "name"
        v = rec[key]
        return NULL if v is None else v
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, TimeLiteral):
        return node.tai_ns
    if isinstance(node, Bind):
        one = bind[node.name]
        return to_tai_ns(one) if isinstance(one, datetime.datetime) else one
    if isinstance(node, Neg):
        v = value(node.operand, rec, bind)
        return NULL if v is NULL else -v
    if isinstance(node, Arith):
        a, b = value(node.left, rec, bind), value(node.right, rec, bind)
        if a is NULL or b is NULL:
            return NULL
        if node.op in "/%" and b == 0:
            return NULL
        if node.op == "/":
            return float(a) / float(b)
        if node.op == "%":  # integers only; the sign of the dividend
            r = abs(a) % abs(b)
            return -r if a < 0 else r
        return {"+": a + b, "-": a - b, "*": a * b}[node.op]
    raise AssertionError(f"not a value: {node!r}")


def _span_of(node: Node, rec: dict[str, Any], bind: dict[str, Any]) -> Any:
    if isinstance(node, Identifier):
        return NULL if rec["timespan"] is None else rec["timespan"]
    if isinstance(node, Pair):
        return (db_instant(value(node.begin, rec, bind)), db_instant(value(node.end, rec, bind)))
    t = db_instant(value(node, rec, bind))
    return (t, t + 1)


def _and(*vs: Any) -> Any:
    if any(v is False for v in vs):
        return False
    return NULL if any(v is NULL for v in vs) else True


def _or(*vs: Any) -> Any:
    if any(v is True for v in vs):
        return True
    return NULL if any(v is NULL for v in vs) else False


def truth(node: Node, rec: dict[str, Any], bind: dict[str, Any]) -> Any:
    """True, False or NULL, as SQL's three-valued logic has it."""
    if isinstance(node, And):
        return _and(*(truth(i, rec, bind) for i in node.items))
    if isinstance(node, Or):
        return _or(*(truth(i, rec, bind) for i in node.items))
    if isinstance(node, Not):
        t = truth(node.operand, rec, bind)
        return NULL if t is NULL else not t
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Compare):
        a, b = value(node.left, rec, bind), value(node.right, rec, bind)
        if a is NULL or b is NULL:
            return NULL
        ops: dict[str, Callable[[Any, Any], bool]] = {
            "=": lambda x, y: x == y, "!=": lambda x, y: x != y, "<": lambda x, y: x < y,
            "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, ">=": lambda x, y: x >= y,
        }  # fmt: skip
        return ops[node.op](a, b)
    if isinstance(node, In):
        v = value(node.expr, rec, bind)
        if v is NULL:
            return NULL
        items: list[Any] = []
        for item in node.items:
            if isinstance(item, Range):
                items.append(v in item.values())
            elif isinstance(item, Bind) and isinstance(bind[item.name], list):
                items += [v == one for one in bind[item.name]]
            else:
                other = value(item, rec, bind)
                items.append(NULL if other is NULL else v == other)
        found = _or(*items)
        return (NULL if found is NULL else not found) if node.negated else found
    if isinstance(node, Overlaps):
        left, right = _span_of(node.left, rec, bind), _span_of(node.right, rec, bind)
        if left is NULL or right is NULL:
            return NULL
        return left[0] < right[1] and right[0] < left[1]
    raise AssertionError(f"not a condition: {node!r}")


def oracle(node: Node, bind: dict[str, Any]) -> list[int]:
    return sorted(r["visit"] for r in RECORDS if truth(node, r, bind) is True)


# -- well-typed expressions ---------------------------------------------------------------------------------------
INTS = st.integers(-30, 30) | st.sampled_from([-7, 13, 100, 1000, 999_999])
FLOATS = st.sampled_from([0.0, 0.1, 0.5, 1.5, -1.5, 2.25, 15.0, 30.5, 1e-3, 1e6, 2.5e1])
STRINGS = st.sampled_from(
    ["", "r", "R", "Cam-r", "cam-Z", "Cam-", "Cäm-ü", "ü", "Z", "z", "a b", "M31", "m31", "NGC'1", "Ω", "B", "b"]
)
TIMES = st.sampled_from(
    ["2025-01-01T12:00:00", "2025-01-01T11:30:30", "2025-01-01T12:02:00", "2025-01-01T12:05:00 TAI",
     "2025-01-01T12:15:30", "2025-01-01T13:00", "2025-01-01T11:00", "1500-01-01", "2300-01-01", "9999-12-31",
     "0001-01-01", "2025-01-01T12:00:30+01:00"]
)  # fmt: skip


class Gen:
    """Draws typed trees, collecting the bind values they use."""

    def __init__(self, draw: Callable[..., Any]) -> None:
        self.draw = draw
        self.bind: dict[str, Any] = {}

    def bound(self, value: Any) -> Bind:
        name = f"b{len(self.bind)}"
        self.bind[name] = value
        return Bind(name)

    def int_(self, depth: int) -> Node:
        choice = self.draw(st.integers(0, 9 if depth > 0 else 4))
        if choice == 0:
            return Identifier("visit")
        if choice == 1:
            return Identifier("visit", "seq_num")
        if choice == 2:
            return Literal(self.draw(INTS))
        if choice == 3:
            return self.bound(self.draw(INTS))
        if choice == 4:
            return Identifier("day_obs") if self.draw(st.booleans()) else Identifier("visit", "id")
        if choice == 5:
            return Neg(self.int_(depth - 1))
        op = self.draw(st.sampled_from("+-*%"))
        return Arith(op, self.int_(depth - 1), self.int_(depth - 1))

    def num(self, depth: int) -> Node:
        choice = self.draw(st.integers(0, 6 if depth > 0 else 3))
        if choice == 0:
            return self.int_(depth)
        if choice == 1:
            return Identifier("visit", "exposure_time")
        if choice == 2:
            return Literal(self.draw(FLOATS))
        if choice == 3:
            return self.bound(self.draw(FLOATS))
        if choice == 4:
            return Neg(self.num(depth - 1))
        op = self.draw(st.sampled_from("+-*/"))
        return Arith(op, self.num(depth - 1), self.num(depth - 1))

    def string(self) -> Node:
        choice = self.draw(st.integers(0, 5))
        if choice == 4:
            return Literal(self.draw(STRINGS))
        if choice == 5:
            return self.bound(self.draw(STRINGS))
        names: list[Node] = [Identifier("physical_filter"), Identifier("band"), Identifier("visit", "name"),
                             Identifier("visit", "target_name")]  # fmt: skip
        return names[int(choice)]

    def time(self) -> Node:
        text = self.draw(TIMES)
        if self.draw(st.integers(0, 4)) == 0:
            return self.bound(datetime.datetime.fromisoformat(text.replace(" TAI", "")))
        return TimeLiteral(to_tai_ns(text), text)

    def cond(self, depth: int) -> Node:
        choice = self.draw(st.integers(0, 10 if depth > 0 else 5))
        op = self.draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
        if choice == 0:
            return Compare(op, self.num(2), self.num(2))
        if choice == 1:
            return Compare(op, self.string(), self.string())
        if choice == 2:
            items: list[Node] = []
            for _ in range(self.draw(st.integers(1, 4))):
                kind = self.draw(st.integers(0, 3))
                if kind == 0 and self.draw(st.integers(0, 4)) == 0:  # too long to list: BETWEEN and a remainder
                    start = self.draw(st.sampled_from([-(2**63), -(2**63) + 1, -(10**6), -7]))
                    items.append(Range(start, 2**63 - 1, self.draw(st.integers(1, 5))))
                elif kind == 0:
                    start = self.draw(st.integers(-20, 20))
                    items.append(Range(start, start + self.draw(st.integers(0, 30)), self.draw(st.integers(1, 4))))
                elif kind == 1:
                    items.append(self.bound(self.draw(st.lists(INTS, min_size=1, max_size=5))))
                else:
                    items.append(self.int_(1))
            return In(self.int_(1), tuple(items), negated=self.draw(st.booleans()))
        if choice == 3:
            strings = tuple(self.string() for _ in range(self.draw(st.integers(1, 3))))
            return In(self.string(), strings, negated=self.draw(st.booleans()))
        if choice == 4:
            right: Node = Pair(self.time(), self.time()) if self.draw(st.booleans()) else self.time()
            left: Node = Identifier("visit", "timespan")
            return Overlaps(left, right) if self.draw(st.booleans()) else Overlaps(right, left)
        if choice == 5:
            return Literal(self.draw(st.booleans()))
        if choice == 6:
            return Not(self.cond(depth - 1))
        parts = tuple(self.cond(depth - 1) for _ in range(self.draw(st.integers(2, 3))))
        return And(parts) if choice < 9 else Or(parts)


@st.composite
def typed(draw: Callable[..., Any]) -> tuple[Node, dict[str, Any]]:
    gen = Gen(draw)
    return gen.cond(3), gen.bind


def _answers(butlers: dict[str, DirectButler], text: str, bind: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, butler in butlers.items():
        try:
            out[name] = sorted(c["visit"] for c in butler.query_data_ids(["visit"], where=text, bind=bind))
        except SkyButlerError as exc:
            out[name] = type(exc).__name__
    return out


_FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip


@_FUZZ
@given(typed())
def test_well_typed_expressions_answer_as_the_oracle_on_every_back_end(
    butlers: dict[str, DirectButler], case: tuple[Node, dict[str, Any]]
) -> None:
    node, bind = case
    text = str(node)
    expected = oracle(node, bind)
    answers = _answers(butlers, text, bind)
    for back_end, answer in answers.items():
        assert answer == expected, f"{back_end}: {text!r} with {bind!r}"


# -- ill-typed trees and garbage text: only our errors, alike on both ---------------------------------------------
BAD_BINDS: st.SearchStrategy[Any] = st.sampled_from(
    [None, b"r", [], {}, 1j, float("nan"), float("-inf"), 1e300, -1e200, 1e-200]
)


@st.composite
def ill_typed(draw: Callable[..., Any]) -> tuple[Node, dict[str, Any]]:
    gen = Gen(draw)
    pool: list[Callable[[], Node]] = [
        lambda: gen.num(1), gen.string, gen.time, lambda: gen.cond(1), lambda: Identifier("visit", "timespan"),
        lambda: Pair(gen.time(), gen.time()), lambda: gen.bound(draw(BAD_BINDS)),
        lambda: Identifier(draw(st.sampled_from(["vist", "visit", "band", "detector", "skymap", "htm7"])),
                           draw(st.sampled_from([None, "timespan", "region", "nope", "name", "exposure_time"]))),
    ]  # fmt: skip

    def any_node() -> Node:
        index: int = draw(st.integers(0, len(pool) - 1))
        return pool[index]()

    shape = draw(st.integers(0, 6))
    op = draw(st.sampled_from(["=", "<", "+", "%", "/", "*"]))
    a, b = any_node(), any_node()
    if shape == 0:
        node: Node = Compare(op if op in "=<" else "=", a, b)
    elif shape == 1:
        node = Compare("=", Arith(op if op in "+%/*" else "+", a, b), any_node())
    elif shape == 2:
        node = In(a, (b, any_node()), negated=draw(st.booleans()))
    elif shape == 3:
        node = Overlaps(a, b)
    elif shape == 4:
        node = And((a, b))
    elif shape == 5:
        node = Not(Neg(a))
    else:
        node = a
    return node, gen.bind


def _same_outcome(butlers: dict[str, DirectButler], text: str, bind: dict[str, Any]) -> None:
    outcomes: dict[str, Any] = {}
    for name, butler in butlers.items():
        try:
            outcomes[name] = sorted(c["visit"] for c in butler.query_data_ids(["visit"], where=text, bind=bind))
        except SkyButlerError as exc:
            outcomes[name] = type(exc).__name__
        # any other exception fails the test with its traceback: a raw error escaped
    assert len({repr(o) for o in outcomes.values()}) == 1, f"{text!r} with {bind!r}: {outcomes}"


@_FUZZ
@given(ill_typed())
def test_ill_typed_expressions_raise_only_our_errors_alike(
    butlers: dict[str, DirectButler], case: tuple[Node, dict[str, Any]]
) -> None:
    node, bind = case
    _same_outcome(butlers, str(node), bind)


TOKENS = st.sampled_from(
    ["visit", "band", "visit.timespan", "visit.exposure_time", "physical_filter", "AND", "OR", "NOT", "IN",
     "OVERLAPS", "TRUE", "(", ")", ",", "=", "<", "!=", "+", "-", "*", "/", "%", "1", "2.5", "1e400",
     "99999999999999999999", "'r'", "'", '"', "T'2025-01-01'", "T'2300-01-01'", "T'x'", "1..3", "5..1", "1..9:0",
     ":v", ":w", "\\", "\x00", "é", "..", ".", ";", "--", "/*"]
)  # fmt: skip


@_FUZZ
@given(st.lists(TOKENS, max_size=12).map(" ".join) | st.text(max_size=40))
def test_garbage_raises_only_our_errors_alike(butlers: dict[str, DirectButler], text: str) -> None:
    _same_outcome(butlers, text, {"v": 3, "w": "r"})


def test_the_oracle_agrees_with_hand_written_answers() -> None:
    """The oracle itself, on cases worked out by hand (a wrong oracle would hide a wrong back-end)."""
    ident = Identifier("visit")
    assert oracle(Compare("<", ident, Literal(1)), {}) == [-7, -1, 0]
    assert oracle(Compare("=", Arith("%", Neg(ident), Literal(3)), Literal(-1)), {}) == [1, 13, 100, 1000]
    # NULL exposure times (visits 2 and 1000) are selected by neither the comparison nor its negation
    assert oracle(Not(Compare(">", Identifier("visit", "exposure_time"), Literal(30.0))), {}) == [-7, -1, 0, 3, 8, 21]
    late = Overlaps(Identifier("visit", "timespan"), TimeLiteral(to_tai_ns("2300-01-01"), "2300-01-01"))
    assert oracle(late, {}) == [8]
    assert math.isclose(value(Arith("/", Literal(1), Literal(3)), {}, {}), 1 / 3)


# -- floating-point arithmetic that could leave the doubles ------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "bind"),
    [
        ("1e300 * 1e300 > 0", {}),  # infinity on SQLite, "value out of range: overflow" on PostgreSQL
        ("1e-200 * 1e-200 = 0", {}),  # 0 on SQLite, "underflow" on PostgreSQL
        ("visit.exposure_time * 1e300 > 0", {}),
        ("visit / 1e-300 > 0", {}),
        ("1e100 * 1e100 * 1e100 * 1e100 > visit", {}),  # folded: the product 1e200 is refused
        ("visit.exposure_time * :big > 0", {"big": -1e200}),
        ("visit + -(:tiny) > 0", {"tiny": 1e-300}),
    ],
)
def test_float_arithmetic_that_could_overflow_is_refused_alike(
    butlers: dict[str, DirectButler], text: str, bind: dict[str, Any]
) -> None:
    """Issue 17 item 7: one outcome on both back-ends, refused before SQL with our error and its position."""
    for butler in butlers.values():
        with pytest.raises(QuerySyntaxError, match=r"(?s)magnitude 1e-150 to 1e\+150.*\^"):
            butler.query_data_ids(["visit"], where=text, bind=bind)


@pytest.mark.parametrize(
    "text", ["visit.exposure_time * 1e150 > 1e155", "1e-150 * visit.exposure_time > 0", "1e150 / 1e-150 > visit"]
)
def test_float_arithmetic_within_the_range_answers_as_the_oracle(butlers: dict[str, DirectButler], text: str) -> None:
    node = parse_where(text)
    assert node is not None
    expected = oracle(node, {})
    assert _answers(butlers, text, {}) == dict.fromkeys(butlers, expected)


def test_a_planned_query_checks_its_float_binds_again(butlers: dict[str, DirectButler]) -> None:
    """A second call of the same shape may run from a cached plan: its float binds must still be checked."""
    text = "visit.exposure_time * :f > 0"
    for butler in butlers.values():
        for _ in range(2):  # the second call of a shape is the one a plan would serve
            assert len(butler.query_data_ids(["visit"], where=text, bind={"f": 2.0})) == 8
        with pytest.raises(QuerySyntaxError, match="magnitude"):
            butler.query_data_ids(["visit"], where=text, bind={"f": 1e300})
