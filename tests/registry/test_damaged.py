"""A damaged SQLite registry file is reported as such, with what to do, never as a raw driver error.

Issue 17 item 6: a registry file cut in half raised ``sqlalchemy.exc.DatabaseError: database disk image is
malformed`` from ``Butler(root)``, and the command line exited 70 (an internal error).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from skybutler.butler import Butler
from skybutler.cli._main import cli
from skybutler.errors import StorageError
from skybutler.testing.sample import populate_sample


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = Butler.create(tmp_path_factory.mktemp("healthy") / "repo")
    with Butler(root, run="r") as butler:
        populate_sample(butler)
    return Path(root)


def _cut_in_half(path: Path) -> None:
    with path.open("r+b") as stream:
        stream.truncate(path.stat().st_size // 2)


def _overwrite_header(path: Path) -> None:
    with path.open("r+b") as stream:
        stream.write(b"not a database" * 10)


@pytest.mark.parametrize("damage", [_cut_in_half, _overwrite_header])
def test_a_damaged_registry_file_says_so_and_what_to_do(
    healthy: Path, tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(healthy, root)
    damage(root / "registry.sqlite3")
    with (
        pytest.raises(StorageError, match=r"registry database .*registry.sqlite3 is damaged .*Restore it"),
        Butler(root) as butler,
    ):
        list(butler.query_data_ids(["visit"]))
    result = CliRunner().invoke(cli, ["query-data-ids", str(root), "visit"], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("error [storage]: The registry database ")
    assert "is damaged" in result.stderr
    assert len(result.stderr.splitlines()) == 1
