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
