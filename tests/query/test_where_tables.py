"""The `where` parser's tables (built ahead of time from where.lark) are current and parse as lark does."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.query.test_parser import GRAMMAR_ALPHABET, PIECES, conditions

from skybutler.query import _gen_parser, _lalr

GRAMMAR = resources.files("skybutler.query").joinpath("where.lark").read_text()


def test_the_shipped_tables_are_those_of_the_current_grammar() -> None:
    tables = json.loads(resources.files("skybutler.query").joinpath(_gen_parser.TABLES).read_text())
    assert tables["grammar_sha256"] == _gen_parser.grammar_digest(GRAMMAR), (
        f"skybutler/query/{_gen_parser.TABLES} was built from another where.lark: run `{_gen_parser.COMMAND}` "
        "and commit the file"
    )


@pytest.fixture(scope="module")
def lark_parser() -> Any:
    return _gen_parser.lark_parser(GRAMMAR)


def _shape(node: Any) -> Any:
    """A tree as plain tuples: rule names, start positions, tokens with type, text and position."""
    if isinstance(node, str):  # lark's Token and ours are str subclasses
        return ("token", node.type, str(node), node.start_pos)  # type: ignore[attr-defined]
    return (node.data, getattr(node.meta, "start_pos", None), tuple(_shape(c) for c in node.children))


def _outcome(parse: Any, text: str) -> Any:
    import lark

    try:
        return _shape(parse(text))
    except (lark.exceptions.UnexpectedCharacters, _lalr.UnexpectedCharactersError) as exc:
        return ("characters", exc.pos_in_stream)
    except (lark.exceptions.UnexpectedToken, _lalr.UnexpectedTokenError) as exc:
        token = exc.token
        return ("token", token.type, str(token), None if token.type == "$END" else token.start_pos)


def _same(lark_parser: Any, text: str) -> None:
    assert _outcome(_lalr.load().parse, text) == _outcome(lark_parser.parse, text), text


@pytest.mark.parametrize(
    "text",
    [
        "a", "(a)", "((a) = 1)", "-1", "- - 3", "a - -1", "a-1", "visit IN (1..5:2, 7)", "x NOT IN (1)", ":b",
        "UUID('x')", "GLOB(a, 'x*')", "POINT(1, 2) OVERLAPS region", "circle (1,2,3)", "a = T'2020-01-01'",
        "true AND false", "NOT NOT a", "a AND AND b", "a = ", "(", "a = 1 b", "$", "a = 'x", "1..2", "a.b = c.d",
        "(1, 2) OVERLAPS (3, 4)", "a = 1.5e3", "a % 2 = 1 OR b * 3 / 4 + 5 - 6 > 7", "  a  =  1  ", "andy = 1",
        "a = 1 and", "in", "a in (", "x = -y", "visit > 5 AND detector IN (1..3)",
    ],
)  # fmt: skip
def test_same_trees_and_errors_as_lark(lark_parser: Any, text: str) -> None:
    _same(lark_parser, text)


@settings(max_examples=300, deadline=None)
@given(conditions)
def test_same_trees_as_lark_for_random_valid_expressions(lark_parser: Any, node: Any) -> None:
    _same(lark_parser, str(node))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(alphabet=GRAMMAR_ALPHABET, max_size=60), st.lists(st.sampled_from(PIECES), max_size=12)))
def test_same_errors_as_lark_for_random_text(lark_parser: Any, text: str | list[str]) -> None:
    _same(lark_parser, text if isinstance(text, str) else " ".join(text))
