"""Another repository inside a datastore's root is never unknown to `verify`, nor deleted by `reconcile`.

Issue 19 item 2: ``skybutler create outer/u`` used to succeed inside ``outer``'s datastore; ``outer``'s
``verify`` then listed ``u/butler.yaml`` and ``u/registry.sqlite3`` as unknown, and ``reconcile
--remove-unknown --yes`` deleted them, leaving ``u`` unopenable.  ``create`` refuses that now, but such
repositories exist (made before, moved in, or made by the reference butler, which also writes a
``butler.yaml``): their files are another repository's, whatever they are called.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.cli._main import cli
from skybutler.testing.fixtures import datastore_repo
from skybutler.testing.sample import populate_sample


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def outer(
    request: pytest.FixtureRequest, registry_url: tuple[str, str | None], tmp_path: Path
) -> Iterator[DirectButler]:
    """A repository (SQLite or PostgreSQL; files local or on S3) with one dataset, holding another repository
    ``u`` (a real one, with a dataset of its own) in its datastore, and one stray file."""
    root = datastore_repo(request, registry_url, tmp_path / "outer", request.param)
    with DirectButler(root, run="run") as butler:
        _fill(butler, tmp_path)
        yield butler


def _fill(butler: DirectButler, tmp_path: Path) -> None:
    populate_sample(butler)
    butler.register_dataset_type("meta", ["instrument", "visit"], "StructuredDataDict")
    butler.put({"outer": True}, "meta", instrument="Cam", visit=1)
    inner = Path(Butler.create(tmp_path / "elsewhere" / "u"))
    with DirectButler(inner, run="run") as u:
        populate_sample(u)
        u.register_dataset_type("meta", ["instrument", "visit"], "StructuredDataDict")
        u.put({"inner": True}, "meta", instrument="Cam", visit=1)
    transport = butler.datastore.files().transport
    for path in sorted(inner.rglob("*")):
        if path.is_file():
            transport.put(f"u/{path.relative_to(inner).as_posix()}", path.read_bytes())
    transport.put("stray/left-behind.txt", b"no dataset refers to this")


def _inner_keys(butler: DirectButler) -> list[str]:
    return sorted(butler.datastore.files().transport.keys("u/"))


def test_verify_lists_no_file_of_another_repository(outer: DirectButler) -> None:
    assert {"u/butler.yaml", "u/registry.sqlite3"} <= set(_inner_keys(outer))
    report = outer.verify()
    assert report.unknown == ["stray/left-behind.txt"]
    assert report.ok == 1


def test_reconcile_remove_unknown_never_deletes_another_repository(outer: DirectButler, tmp_path: Path) -> None:
    before = _inner_keys(outer)
    report = outer.reconcile(grace_seconds=0, remove_unknown=True)
    assert report.unknown == ["stray/left-behind.txt"]
    transport = outer.datastore.files().transport
    assert not transport.exists("stray/left-behind.txt")  # a real unknown file still goes
    assert _inner_keys(outer) == before
    if transport.is_local:  # the nested repository still opens and reads
        with DirectButler(transport.local_path("u")) as u:
            assert u.get("meta", instrument="Cam", visit=1, collections="run") == {"inner": True}
    assert outer.get("meta", instrument="Cam", visit=1, collections="run") == {"outer": True}


def test_the_command_line_keeps_another_repository(outer: DirectButler) -> None:
    before = _inner_keys(outer)
    result = CliRunner().invoke(cli, ["reconcile", str(outer.root), "--remove-unknown", "--grace", "0", "--yes"])
    assert result.exit_code == 0, result.output
    assert "u/" not in result.output
    assert _inner_keys(outer) == before


def test_a_dataset_file_named_butler_yaml_is_the_datasets() -> None:
    """A registered file called ``butler.yaml`` is a dataset's, not the sign of another repository."""
    from skybutler.datastore._reconcile import other_repositories

    keys = ["run/a/butler.yaml", "run/a/x.json", "u/butler.yaml", "u/registry.sqlite3", "butler.yaml"]
    assert other_repositories(keys, {"run/a/butler.yaml"}) == ("u/",)
