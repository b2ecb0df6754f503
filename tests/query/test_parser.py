"""The `where` parser: valid expressions and their AST, invalid ones and their caret, and hypothesis fuzzing."""

from __future__ import annotations

import datetime
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skybutler.dimensions import to_tai_ns
from skybutler.errors import QuerySyntaxError
from skybutler.query import parse_where
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

V = Identifier("visit")
D = Identifier("detector")
ET = Identifier("visit", "exposure_time")
TS = Identifier("visit", "timespan")
NEW_YEAR_UTC = 1_735_689_600 * 10**9 + 37 * 10**9  # 2025-01-01T00:00:00 UTC in TAI ns (37 leap seconds)
NEW_YEAR_TAI = 1_735_689_600 * 10**9


def lit(value: str | int | float | bool) -> Literal:
    return Literal(value)


def eq(left: Node, value: str | int | float | bool) -> Compare:
    return Compare("=", left, Literal(value))


def utc(text: str) -> TimeLiteral:
    return TimeLiteral(NEW_YEAR_UTC, text)


def tai(text: str) -> TimeLiteral:
    return TimeLiteral(NEW_YEAR_TAI, text)


VALID: list[tuple[str, Node]] = [
    # comparisons (``<>`` is ``!=``)
    ("visit = 5", Compare("=", V, lit(5))),
    ("visit != 5", Compare("!=", V, lit(5))),
    ("visit <> 5", Compare("!=", V, lit(5))),
    ("visit < 5", Compare("<", V, lit(5))),
    ("visit <= 5", Compare("<=", V, lit(5))),
    ("visit > 5", Compare(">", V, lit(5))),
    ("visit >= 5", Compare(">=", V, lit(5))),
    ("5 < visit", Compare("<", lit(5), V)),
    ("visit=5", Compare("=", V, lit(5))),
    # IN with values, ranges, steps, negative ranges; NOT IN
    ("visit IN (1, 2, 3)", In(V, (lit(1), lit(2), lit(3)))),
    ("visit IN (1..10)", In(V, (Range(1, 10),))),
    ("visit IN (1..10:2)", In(V, (Range(1, 10, 2),))),
    ("visit IN (-5..-1)", In(V, (Range(-5, -1),))),
    ("visit IN (-3..3:3)", In(V, (Range(-3, 3, 3),))),
    ("visit IN (1, 5..7, :more)", In(V, (lit(1), Range(5, 7), Bind("more")))),
    ("visit NOT IN (1..3)", In(V, (Range(1, 3),), negated=True)),
    ("physical_filter in ('Cam-r', 'Cam-g')", In(Identifier("physical_filter"), (lit("Cam-r"), lit("Cam-g")))),
    # AND binds tighter than OR; NOT tighter than AND; parentheses override; keywords are case-insensitive
    ("visit = 1 OR visit = 2 AND detector = 3", Or((eq(V, 1), And((eq(V, 2), eq(D, 3)))))),
    ("(visit = 1 OR visit = 2) AND detector = 3", And((Or((eq(V, 1), eq(V, 2))), eq(D, 3)))),
    ("NOT visit = 1 AND detector = 2", And((Not(eq(V, 1)), eq(D, 2)))),
    ("NOT (visit = 1 AND detector = 2)", Not(And((eq(V, 1), eq(D, 2))))),
    ("NOT NOT visit = 1", Not(Not(eq(V, 1)))),
    ("visit = 1 and detector = 2 or not visit = 3", Or((And((eq(V, 1), eq(D, 2))), Not(eq(V, 3))))),
    ("visit = 1 AND detector = 2 AND visit.exposure_time > 3", And((eq(V, 1), eq(D, 2), Compare(">", ET, lit(3))))),
    ("((visit = 1))", eq(V, 1)),
    # arithmetic: * / % bind tighter than + -, left-associative; unary minus folds into number literals
    ("visit + 1 = 3", Compare("=", Arith("+", V, lit(1)), lit(3))),
    ("visit * 2 + 1 = 7", Compare("=", Arith("+", Arith("*", V, lit(2)), lit(1)), lit(7))),
    ("1 + visit * 2 = 7", Compare("=", Arith("+", lit(1), Arith("*", V, lit(2))), lit(7))),
    ("visit - 1 - 1 = 0", Compare("=", Arith("-", Arith("-", V, lit(1)), lit(1)), lit(0))),
    ("(visit - 1) * 2 = 0", Compare("=", Arith("*", Arith("-", V, lit(1)), lit(2)), lit(0))),
    ("visit % 7 = 3", Compare("=", Arith("%", V, lit(7)), lit(3))),
    ("visit / 2 >= 1.5", Compare(">=", Arith("/", V, lit(2)), lit(1.5))),
    ("visit = -5", Compare("=", V, lit(-5))),
    ("-visit = 5", Compare("=", Neg(V), lit(5))),
    ("visit - -5 = 0", Compare("=", Arith("-", V, lit(-5)), lit(0))),
    # literals: strings (both quotes, escapes, unicode), int, float, exponent, bool
    ("band = 'r'", Compare("=", Identifier("band"), lit("r"))),
    ('band = "r"', Compare("=", Identifier("band"), lit("r"))),
    (r"band = 'it\'s'", Compare("=", Identifier("band"), lit("it's"))),
    (r"band = 'a\\b'", Compare("=", Identifier("band"), lit("a\\b"))),
    (r"band = 'tab\there'", Compare("=", Identifier("band"), lit("tab\there"))),
    (r"band = 'C:\data'", Compare("=", Identifier("band"), lit("C:\\data"))),
    ("band = 'λ≈5500Å'", Compare("=", Identifier("band"), lit("λ≈5500Å"))),
    ("band = ''", Compare("=", Identifier("band"), lit(""))),
    ("visit.exposure_time > 30.5", Compare(">", ET, lit(30.5))),
    ("visit.exposure_time > 1e3", Compare(">", ET, lit(1000.0))),
    ("visit.exposure_time > 2.5E-1", Compare(">", ET, lit(0.25))),
    ("exposure.can_see_sky = TRUE", Compare("=", Identifier("exposure", "can_see_sky"), lit(True))),
    ("exposure.can_see_sky = false", Compare("=", Identifier("exposure", "can_see_sky"), lit(False))),
    ("exposure.can_see_sky", Identifier("exposure", "can_see_sky")),
    ("TRUE", lit(True)),
    # times: UTC by default, TAI on request; lower-case t too
    ("visit.timespan OVERLAPS T'2025-01-01T00:00:00'", Overlaps(TS, utc("2025-01-01T00:00:00"))),
    ("visit.timespan OVERLAPS t'2025-01-01T00:00:00 TAI'", Overlaps(TS, tai("2025-01-01T00:00:00 TAI"))),
    ("visit.timespan OVERLAPS T'2025-01-01T00:00:00 UTC'", Overlaps(TS, utc("2025-01-01T00:00:00 UTC"))),
    ("visit.timespan OVERLAPS T'2025-01-01T01:00:00+01:00'", Overlaps(TS, utc("2025-01-01T01:00:00+01:00"))),
    # OVERLAPS with a (begin, end) pair, a time, a bind, or another timespan
    (
        "visit.timespan OVERLAPS (T'2025-01-01T00:00:00', T'2025-01-01T00:00:00 TAI')",
        Overlaps(TS, Pair(utc("2025-01-01T00:00:00"), tai("2025-01-01T00:00:00 TAI"))),
    ),
    ("visit.timespan overlaps (:begin, :end)", Overlaps(TS, Pair(Bind("begin"), Bind("end")))),
    ("visit.timespan OVERLAPS :when", Overlaps(TS, Bind("when"))),
    ("exposure.timespan OVERLAPS visit.timespan", Overlaps(Identifier("exposure", "timespan"), TS)),
    # dimension.field and binds
    ("detector.purpose = 'SCIENCE'", Compare("=", Identifier("detector", "purpose"), lit("SCIENCE"))),
    ("visit = :v AND detector IN (:ds)", And((Compare("=", V, Bind("v")), In(D, (Bind("ds"),))))),
    # identifiers that start like keywords are names
    ("order = 1 AND in_x = 3", And((eq(Identifier("order"), 1), eq(Identifier("in_x"), 3)))),
    ("notes = 2 OR trueish = 1", Or((eq(Identifier("notes"), 2), eq(Identifier("trueish"), 1)))),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[t for t, _ in VALID])
def test_valid_expressions(text: str, expected: Node) -> None:
    node = parse_where(text)
    assert node == expected
    assert str(node) == str(expected)  # == treats 1, 1.0 and TRUE alike; the printed forms do not
    assert parse_where(str(node)) == node  # what is printed parses back to the same tree


def test_empty_means_no_constraint() -> None:
    assert parse_where("") is None
    assert parse_where("   \n\t") is None


def test_identifier_positions_point_into_the_text() -> None:
    node = parse_where("visit = 1 AND detector.purpose = 'x'")
    assert isinstance(node, And)
    first, second = node.items
    assert isinstance(first, Compare)
    assert isinstance(second, Compare)
    assert isinstance(first.left, Identifier)
    assert isinstance(second.left, Identifier)
    assert (first.left.pos, second.left.pos) == (0, 14)


def test_range_values() -> None:
    assert list(Range(1, 10, 3).values()) == [1, 4, 7, 10]
    assert list(Range(-5, -1).values()) == [-5, -4, -3, -2, -1]


INVALID: list[tuple[str, int, str]] = [
    ("visit >", 7, "ends too early"),
    ("visit = = 3", 8, "Unexpected '='"),
    ("visit == 3", 7, "Unexpected '='"),
    ("visit IN ()", 10, "Unexpected ')'"),
    ("visit IN (3..1)", 10, "range 3..1 is empty"),
    ("visit IN (1..5:0)", 10, "step must be positive"),
    ("visit IN 1, 2", 9, "Unexpected '1'"),
    ("visit IN (1..3", 14, "ends too early"),
    ("visit = 1..3", 9, "Unexpected '.'"),
    ("visit $ 3", 6, "Unexpected character '$'"),
    ("visit = 3 ;", 10, "Unexpected character ';'"),
    ("é = 1", 0, "Unexpected character 'é'"),
    ("(visit = 3", 10, "ends too early"),
    ("visit = 3)", 9, "Unexpected ')'"),
    ("visit = 'abc", 8, "Unexpected character"),
    ("visit = 'a' 'b'", 12, "Unexpected"),
    ("visit = 3 4", 10, "Unexpected '4'"),
    ("visit = 1.5.3", 11, "Unexpected '.'"),
    ("visit.exposure_time.x = 1", 19, "Unexpected '.'"),
    ("visit.in = 1", 6, "Unexpected 'in'"),
    ("AND visit = 3", 0, "Unexpected 'AND'"),
    ("visit = 3 AND", 13, "ends too early"),
    ("visit = 3 OR OR detector = 1", 13, "Unexpected 'OR'"),
    ("NOT", 3, "ends too early"),
    ("visit = :", 9, "ends too early"),
    ("a OVERLAPS", 10, "ends too early"),
    ("(a, b, c) OVERLAPS d", 5, "Unexpected ','"),
    ("t = T'not a time'", 4, "Invalid time literal"),
    ("t = T'2025-13-01'", 4, "Invalid time literal"),
    ("t = T'0001-01-01T00:00:00+01:00'", 4, "Invalid time literal"),  # overflows datetime: still a syntax error
    ("visit = 3\nAND detector ==", 24, "Unexpected '='"),
]


@pytest.mark.parametrize(("text", "position", "message"), INVALID, ids=[t for t, _, _ in INVALID])
def test_invalid_expressions(text: str, position: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_where(text)
    error = info.value
    assert getattr(error, "position", None) == position
    assert message in str(error)
    # The message quotes the offending line with a caret under the offending column.
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    line = text[line_start : line_end if line_end != -1 else len(text)]
    quoted, caret = str(error).split("\n")[-2:]
    assert quoted == f"  {line}"
    assert caret == "  " + " " * (position - line_start) + "^"


def test_not_a_string_and_too_long() -> None:
    with pytest.raises(QuerySyntaxError, match="must be a string"):
        parse_where(42)  # type: ignore[arg-type]
    with pytest.raises(QuerySyntaxError, match="characters long"):
        parse_where("visit = 1 OR " * 10_000 + "visit = 2")


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    depth = 5_000
    text = "(" * depth + "visit = 1" + ")" * depth
    try:
        node = parse_where(text)
    except QuerySyntaxError:
        with pytest.raises(QuerySyntaxError, match="nested too deeply"):
            parse_where(text)
    else:
        assert node == eq(V, 1)


# -- hypothesis: random strings ----------------------------------------------------------------------------------

GRAMMAR_ALPHABET = "visitdecorbnaATNDOR_.0123456789 \n()=<>!:,'\"\\+-*/%Ttéλ\x00"


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=GRAMMAR_ALPHABET, max_size=60)))
def test_random_strings_raise_only_query_syntax_errors(text: str) -> None:
    try:
        parse_where(text)
    except QuerySyntaxError:
        pass


PIECES = [
    "visit", "detector", "visit.exposure_time", "visit.timespan", "=", "!=", "<>", "<", ">=", "IN", "NOT", "AND",
    "OR", "OVERLAPS", "(", ")", ",", "1", "-2", "3.5", "1e3", "1..5", "2..-2", "1..9:0", "'r'", "'it\\'s'", "'\\x'",
    "TRUE", ":b", "T'2025-01-01'", "T'2025-01-01 TAI'", "T'x'", "T'0001-01-01T00:00+01:00'", "+", "*", "/", "%", "-",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12))
def test_random_token_soup_raises_only_query_syntax_errors(pieces: list[str]) -> None:
    try:
        parse_where(" ".join(pieces))
    except QuerySyntaxError:
        pass


# -- hypothesis: random valid ASTs print and parse back ------------------------------------------------------------

KEYWORDS = {"and", "or", "not", "in", "overlaps", "true", "false"}
names = st.from_regex(re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,8}", re.ASCII), fullmatch=True).filter(
    lambda n: n.lower() not in KEYWORDS
)
identifiers = st.builds(Identifier, names, st.none() | names)
binds = st.builds(Bind, names)
numbers = st.integers(-(10**12), 10**12).map(Literal) | st.floats(allow_nan=False, allow_infinity=False).map(Literal)
strings = st.text(max_size=12).map(Literal)
bools = st.booleans().map(Literal)


@st.composite
def times(draw: st.DrawFn) -> TimeLiteral:
    moment = draw(st.datetimes(min_value=datetime.datetime(1972, 1, 1), max_value=datetime.datetime(2200, 1, 1)))
    text = moment.isoformat() + draw(st.sampled_from(["", " TAI", " UTC"]))
    return TimeLiteral(to_tai_ns(text), text)


def _values(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    # A unary minus over a number literal is folded into the literal by the parser, so it is not generated.
    return st.one_of(
        st.builds(Neg, children.filter(lambda c: not isinstance(c, Literal))),
        st.builds(Arith, st.sampled_from(["+", "-", "*", "/", "%"]), children, children),
    )


values: st.SearchStrategy[Node] = st.recursive(
    st.one_of(identifiers, binds, numbers, strings, bools, times()), _values, max_leaves=6
)
in_items = st.one_of(
    values,
    st.tuples(st.integers(-50, 50), st.integers(0, 50), st.integers(1, 5)).map(
        lambda t: Range(t[0], t[0] + t[1], t[2])
    ),
)
timespans = st.one_of(identifiers, binds, times(), st.builds(Pair, values, values))
predicates: st.SearchStrategy[Node] = st.one_of(
    st.builds(Compare, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), values, values),
    st.builds(In, values, st.lists(in_items, min_size=1, max_size=4).map(tuple), st.booleans()),
    st.builds(Overlaps, timespans, timespans),
    identifiers,
    bools,
)


def _conditions(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    several = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(st.builds(Not, children), st.builds(And, several), st.builds(Or, several))


conditions = st.recursive(predicates, _conditions, max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(conditions)
def test_random_asts_print_and_parse_back_equal(node: Node) -> None:
    text = str(node)
    parsed = parse_where(text)
    assert parsed == node, text
    assert str(parsed) == text


def test_parsing_needs_no_lark() -> None:
    """The parser runs on tables built ahead of time (issue 26 part 4): lark is not imported to parse."""
    code = (
        "import sys\nfrom skybutler.query._parser import parse_where\n"
        "assert str(parse_where('visit > 3 AND detector IN (1..3)')) == '(visit > 3) AND (detector IN (1..3))'\n"
        "print('lark' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# -- the cache of parsed trees keyed by the text with its integers blanked out ---------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(
        [
            "visit > {0} AND detector = {1}",
            "instrument = 'Cam{0}' AND visit IN ({0}, {1}, 7) OR detector.purpose = \"{1}\"",
            "visit * {0} - {1} > exposure.day_obs AND x = 1.5 AND T'2025-01-0{2}' < t",
            "visit IN ({2}..1{0}) AND detector = -{2}",
            "NOT (visit = {0}) AND htm7 = {1} AND :b{2} = {2}",
        ]
    ),
    st.tuples(st.integers(0, 10**12), st.integers(0, 10**6), st.integers(1, 9)),
    st.tuples(st.integers(0, 10**12), st.integers(0, 10**6), st.integers(1, 9)),
)
def test_cached_trees_equal_fresh_parses(template: str, first: tuple[int, ...], second: tuple[int, ...]) -> None:
    from skybutler.query._parser import _parse_where

    for values in (first, second):
        text = template.format(*values)
        cached, fresh = parse_where(text), _parse_where(text)
        assert cached == fresh
        assert str(cached) == str(fresh)
        # positions (not part of equality) are those of this text, so error carets land under the right token
        assert _positions(cached) == _positions(fresh)


def _positions(node: object) -> list[int]:
    import dataclasses

    out = []
    if hasattr(node, "pos"):
        out.append(node.pos)
    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            for child in value if isinstance(value, tuple) else (value,):
                out += _positions(child)
    return out
