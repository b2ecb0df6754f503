"""export (YAML, zip, --directory), import (all or nothing, --skip-existing) and transfer-datasets (dry run)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.cli.conftest import Run, run_process

from skybutler.butler import Butler, DirectButler
from skybutler.testing.fixtures import POSTGRES_URL, fresh_schema


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and "registry" not in p.name}


def _ids(root: str | Path, dataset_type: str = "*") -> set[str]:
    with DirectButler(root) as butler:
        return {str(r.id) for r in butler.query_datasets(dataset_type, collections="*", find_first=False)}


def test_export_zip_then_import_into_an_empty_repository(run: Run, any_repo: str, tmp_path: Path) -> None:
    archive = tmp_path / "images.zip"
    result = run("export", any_repo, str(archive), "-c", "run1", "-t", "image", "-f", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert (row["datasets"], row["artifacts"], row["collections"]) == (4, 4, 1)
    dest = Butler.create(tmp_path / "dest")
    imported = run("import", dest, str(archive))
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.startswith("Imported 4 dataset(s) (0 skipped), ")
    assert _ids(dest) == _ids(any_repo, "image")
    with DirectButler(dest) as butler:
        assert butler.get("image", instrument="Cam", visit=1, detector=0, collections="run1").shape == (4,)
    twice = run("import", dest, str(archive))
    assert twice.exit_code == 1  # conflict: the datasets are there
    assert twice.stderr.startswith("error [conflict]:")
    skipped = run("import", dest, str(archive), "--skip-existing", "-f", "yaml")
    assert skipped.exit_code == 0, skipped.output
    assert "skipped: 4\n" in skipped.stdout


def test_export_yaml_with_a_directory_and_where(run: Run, sample_repo: str, tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = run("export", sample_repo, str(tmp_path / "meta.yaml"), "-c", "run1", "-t", "meta",
                 "--where", "visit = 2", "--directory", str(out), "--transfer", "copy")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Exported 2 dataset(s), ")
    assert len(_files(out)) == 2
    dest = Butler.create(tmp_path / "dest")
    done = run("import", dest, str(tmp_path / "meta.yaml"), "--directory", str(out), "--transfer", "copy")
    assert done.exit_code == 0, done.output
    with DirectButler(dest) as butler:
        assert butler.get("meta", instrument="Cam", visit=2, detector=1, collections="run1") == {
            "visit": 2, "detector": 1}  # fmt: skip


def test_a_failed_import_changes_nothing(run: Run, sample_repo: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("description: x\nversion: 1.0.2\ndata:\n- type: dataset_type\n  name: 3\n")
    before = _files(Path(sample_repo))
    ids = _ids(sample_repo)
    result = run("import", sample_repo, str(bad))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error [")
    assert len(result.stderr.strip().splitlines()) == 1
    assert _ids(sample_repo) == ids
    assert _files(Path(sample_repo)) == before
    missing = run("import", sample_repo, str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    bad_transfer = run("export", sample_repo, str(tmp_path / "x.yaml"), "--transfer", "direct")
    assert bad_transfer.exit_code == 2
    typo = run("export", sample_repo, str(tmp_path / "x.yaml"), "-c", "run1,nowhere")
    assert typo.exit_code == 1
    assert typo.stderr == "error [collection]: No collection named 'nowhere'; see `skybutler query-collections`.\n"
    assert not (tmp_path / "x.yaml").exists()


def test_transfer_datasets_dry_run_then_for_real(run: Run, any_repo: str, tmp_path: Path) -> None:
    dest = Butler.create(tmp_path / "dest")
    dry = run("transfer-datasets", any_repo, dest, "-t", "meta", "-c", "run1", "--where", "visit < 2", "--dry-run")
    assert dry.exit_code == 0, dry.output
    lines = dry.stdout.splitlines()
    assert lines[0] == "Would transfer 4 dataset(s); 0 already in DEST:"
    assert lines[-1] == "Dry run: nothing was changed."
    assert _ids(dest) == set()
    assert _files(tmp_path / "dest") == {tmp_path / "dest" / "butler.yaml"}
    done = run("transfer-datasets", any_repo, dest, "-t", "meta", "-c", "run1", "--where", "visit < 2")
    assert done.exit_code == 0, done.output
    assert done.stdout == "Transferred 4 dataset(s) (copy); 0 already in DEST.\n"
    assert _ids(dest) <= _ids(any_repo, "meta")  # the same UUIDs
    assert len(_ids(dest)) == 4
    more = run("transfer-datasets", any_repo, dest, "-t", "meta", "--dry-run", "-f", "json")
    rows = json.loads(more.stdout)
    assert sorted(r["action"] for r in rows).count("skip (in DEST)") == 4
    assert len(rows) == 8
    rest = run("transfer-datasets", any_repo, dest, "-t", "meta", "-f", "csv")
    assert rest.exit_code == 0, rest.output
    body = rest.stdout.splitlines()
    assert body[0] == "dataset_type,run,id,instrument,detector,visit,action"
    assert sum(line.endswith(",transferred") for line in body) == 4
    with DirectButler(dest) as butler:
        assert butler.get("meta", instrument="Cam", visit=3, detector=0, collections="run1") == {
            "visit": 3, "detector": 0}  # fmt: skip


def test_transfer_datasets_without_registering_types_fails_cleanly(run: Run, sample_repo: str, tmp_path: Path) -> None:
    dest = Butler.create(tmp_path / "dest")
    result = run("transfer-datasets", sample_repo, dest, "-t", "image", "--no-register-dataset-types")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error [dataset-type]:")
    assert _ids(dest) == set()
    no_dims = run("transfer-datasets", sample_repo, dest, "-t", "image", "--no-transfer-dimensions")
    assert no_dims.exit_code != 0
    assert _ids(dest) == set()


def test_transfer_datasets_with_associations(run: Run, any_repo: str, tmp_path: Path) -> None:
    with DirectButler(any_repo, writeable=True) as butler:
        metas = list(butler.query_datasets("meta", collections="run1", where="visit < 2"))
        biases = sorted(butler.query_datasets("bias", collections="calib/run1"), key=lambda r: r.data_id["detector"])
        butler.collections.register("picked", "TAGGED")
        butler.collections.associate("picked", metas[:3])
        butler.collections.register("calib", "CALIBRATION")
        butler.collections.certify("calib", biases, ("2025-01-01T00:00:00", None))
    dest = Butler.create(tmp_path / "dest")
    args = ("transfer-datasets", any_repo, dest, "-t", "meta,bias", "-c", "run1,calib/run1,picked,calib")
    plain = run(*args, "--where", "visit = 3")
    assert plain.exit_code == 0, plain.output
    with DirectButler(dest) as out:
        assert out.registry.collections.find("picked") is None  # not without --associations
    done = run(*args, "--associations")
    assert done.exit_code == 0, done.output
    with DirectButler(dest) as out:
        assert sorted(r.id for r in out.query_datasets("meta", collections="picked")) == sorted(r.id for r in metas[:3])
        found = out.find_dataset("bias", instrument="Cam", detector=1, collections="calib", at="2025-06-01T00:00:00")
        assert found is not None
        assert found.id == biases[1].id


def test_export_import_as_processes(sample_repo: str, tmp_path: Path) -> None:
    with DirectButler(sample_repo, run="extra") as butler:
        butler.put(np.arange(3.0), "image", instrument="Cam", visit=3, detector=1)
    archive = tmp_path / "extra.zip"
    done = run_process("export", sample_repo, str(archive), "-c", "extra")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Exported 1 dataset(s), ")
    dest = Butler.create(tmp_path / "dest")
    done = run_process("import", dest, str(archive))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    with DirectButler(dest) as butler:
        assert butler.get("image", instrument="Cam", visit=3, detector=1, collections="extra")[2] == 2.0


def test_bulk_commands_draw_progress_on_a_terminal_unless_told_not_to(
    run: Run, sample_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skybutler.cli import _progress

    monkeypatch.setattr(_progress, "stderr_is_terminal", lambda: True)  # the runner's stderr is a buffer
    archive = str(tmp_path / "all.zip")
    dest = Butler.create(tmp_path / "dest")
    other = Butler.create(tmp_path / "other")
    for args in (("export", sample_repo, archive), ("import", dest, archive), ("verify", dest),
                 ("transfer-datasets", sample_repo, other, "-t", "meta")):  # fmt: skip
        quiet = run("--no-progress", *args) if args[0] == "export" else None
        result = run(*args)
        assert result.exit_code == 0, (args, result.output)
        assert "━" in result.stderr, args  # a bar was drawn
        if quiet is not None:
            assert quiet.stderr == ""


def test_transfer_direct_refers_to_the_source_files(run: Run, sample_repo: str, tmp_path: Path) -> None:
    dest = Butler.create(tmp_path / "dest")
    done = run("transfer-datasets", sample_repo, dest, "-t", "image", "--transfer", "direct")
    assert done.exit_code == 0, done.output
    assert done.stdout == "Transferred 4 dataset(s) (direct); 0 already in DEST.\n"
    assert _files(tmp_path / "dest") == {tmp_path / "dest" / "butler.yaml"}  # no file copied
    assert run("verify", dest).stdout == "4 ok, 0 missing, 0 corrupt, 0 unknown.\n"
    assert run("transfer-datasets", sample_repo, dest, "--transfer", "move").exit_code == 2  # not a choice here


@pytest.fixture
def empty_repo(registry_url: tuple[str, str | None], tmp_path: Path) -> Iterator[str]:
    """A second, empty repository on the back-end of ``any_repo``."""
    url, _ = registry_url
    if url.startswith("sqlite"):
        yield Butler.create(tmp_path / "empty")
        return
    with fresh_schema(POSTGRES_URL) as schema:
        yield Butler.create(tmp_path / "empty", registry=POSTGRES_URL, schema=schema)


def test_damaged_or_hostile_exports_fail_with_our_error(
    run: Run, any_repo: str, empty_repo: str, tmp_path: Path
) -> None:
    """Exit 1 with one ``error [export-format]`` line (never a traceback, never exit 70); nothing changes."""
    assert run("export", any_repo, str(tmp_path / "e.yaml"), "-c", "run1", "-t", "meta").exit_code == 0
    assert run("export", any_repo, str(tmp_path / "e.zip"), "-c", "run1", "-t", "meta").exit_code == 0
    text = (tmp_path / "e.yaml").read_bytes()
    archive = bytearray((tmp_path / "e.zip").read_bytes())
    archive[archive.index(b'{"visit":0') + 3] ^= 0x01  # a stored dataset file: its CRC no longer matches
    victim = tmp_path / "victim.json"
    victim.write_text("{}")
    cases = {
        "non-utf8.yaml": text[:200] + b"\xff" + text[201:],
        "flipped.zip": bytes(archive),
        "truncated.zip": bytes(archive[: len(archive) // 3]),
        "empty.yaml": b"",
        "hostile.yaml": text.replace(b"path: ", b"path: ../victim.json\n    x_path: ", 1),
    }
    before = _files(Path(empty_repo))
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        result = run("import", empty_repo, str(tmp_path / name))
        assert result.exit_code == 1, (name, result.output)
        assert result.stderr.startswith("error [export-format]: "), (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (name, result.stderr)
    assert _ids(empty_repo) == set()
    assert _files(Path(empty_repo)) == before
    assert victim.read_text() == "{}"


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_importing_an_export_without_datasets_warns(run: Run, any_repo: str, tmp_path: Path, fmt: str) -> None:
    # "imported 0 dataset(s)" came with no warning
    empty = tmp_path / "none.yaml"
    empty.write_text("description: x\nversion: 1.0.2\nuniverse_version: 7\nuniverse_namespace: daf_butler\ndata: []\n")
    result = run("import", any_repo, str(empty), "-f", fmt)
    assert result.exit_code == 0, result.output
    assert result.stderr == f"warning: {empty} holds no datasets: its export selected none.\n"
