"""docs/architecture.md lists the layers exactly as the import-linter contract in pyproject.toml has them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_page_lists_the_layers_of_the_import_contract() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    page = (ROOT / "docs" / "architecture.md").read_text()
    block = re.search(r"## The layers\n.*?```text\n(.*?)```", page, re.S)
    assert block is not None, "docs/architecture.md has a text block of layers under '## The layers'"
    assert block.group(1).splitlines() == layers
