"""docs/cli.md: its command reference is the commands' current help."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[2] / "docs"


def test_the_command_reference_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBUTLER_DISABLE_PLUGINS", "1")
    spec = importlib.util.spec_from_file_location("gen_cli", DOCS / "gen_cli.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gen_cli", module)
    spec.loader.exec_module(module)
    current = (DOCS / "cli.md").read_text()
    assert module.render(current) == current, "docs/cli.md is stale: run python docs/gen_cli.py"
    for name in module.COMMANDS:
        assert f"### `skybutler {name}`" in current


def test_no_page_says_a_built_in_command_is_missing() -> None:
    # errors.md told readers that `skybutler create`, `reconcile` and `migrate` did not exist yet
    import re

    from skybutler.cli._main import COMMANDS

    pages = [*DOCS.glob("*.md"), DOCS.parent / "README.md"]
    for page in pages:
        text = " ".join(page.read_text().split())
        for sentence in re.split(r"(?<=[.;(])\s", text):
            for name in re.findall(r"`skybutler ([a-z-]+)[^`]*`", sentence):
                if name in COMMANDS:
                    assert not re.search(r"does not exist|no `skybutler", sentence), (page.name, sentence)
