"""Repository commands: create, config dump/validate, migrate, reconcile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from tests.cli.conftest import Run, run_process

from skybutler.butler import DirectButler
from skybutler.errors import ConfigError
from skybutler.registry import SCHEMA_VERSION


def test_create_then_open(run: Run, tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("datastore: {checksum: none}\n")
    result = run("create", str(tmp_path / "r"), "--config", str(extra))
    assert result.exit_code == 0, result.output
    assert "Created a repository at" in result.stdout
    with DirectButler(tmp_path / "r") as butler:
        assert butler.config.datastore.checksum == "none"
    again = run("create", str(tmp_path / "r"))
    assert again.exit_code == 1  # ConflictError: exit 1 like every user error
    assert again.stderr.startswith("error [conflict]: A repository already exists")


def test_create_a_chained_datastore_from_a_config_file(run: Run, tmp_path: Path) -> None:
    extra = tmp_path / "chain.yaml"
    extra.write_text(
        "datastore:\n  type: chained\n  children:\n"
        "    - {name: scratch, type: memory, constraints: {accept: ['tmp_*']}}\n"
        "    - {name: files, constraints: {reject: ['tmp_*']}}\n"
    )
    assert run("create", str(tmp_path / "r"), "--config", str(extra)).exit_code == 0
    dumped = yaml.safe_load(run("config", "dump", str(tmp_path / "r")).stdout)
    assert [(c["name"], c["type"]) for c in dumped["datastore"]["children"]] == [
        ("scratch", "memory"),
        ("files", "file"),
    ]
    extra.write_text("datastore: {type: chained, children: [{name: a, type: tape}]}\n")
    refused = run("create", str(tmp_path / "bad"), "--config", str(extra))
    assert refused.exit_code == 1
    assert "datastore.children.0.type: Input should be 'file', 'memory' or 'chained'" in refused.stderr


def test_create_with_a_bad_config_file_changes_nothing(run: Run, tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("datastore: {nope: 1}\n")
    result = run("create", str(tmp_path / "r"), "--config", str(extra))
    assert result.exit_code == 1
    assert "datastore.nope" in result.stderr
    assert not (tmp_path / "r" / "butler.yaml").exists()


def test_create_with_a_config_file_that_is_not_yaml(run: Run, tmp_path: Path) -> None:
    # a YAML syntax error is the user's: one config error line (exit 1), not an internal error (exit 70)
    extra = tmp_path / "extra.yaml"
    extra.write_text("datastore: {templates: [1,\n")
    result = run("create", str(tmp_path / "r"), "--config", str(extra))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error [config]: {extra} is not valid YAML:")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_create_with_an_unreachable_registry_leaves_no_folders(run: Run, tmp_path: Path) -> None:
    # nothing answers on port 9 of loopback: the folders made for the repository go again
    result = run("create", str(tmp_path / "new" / "r"), "--registry", "postgresql://postgres@127.0.0.1:9/none")
    assert result.exit_code == 1
    assert result.stderr.startswith("error [storage]: Cannot connect to the registry database")
    assert not (tmp_path / "new").exists()


def test_create_on_postgresql(run: Run, registry_url: tuple[str, str | None], tmp_path: Path) -> None:
    url, schema = registry_url
    args = ["create", str(tmp_path / "r")]
    if schema is not None:
        args += ["--registry", url, "--schema", schema]
    assert run(*args).exit_code == 0
    assert run("query-collections", str(tmp_path / "r")).stdout == "No collections match.\n"


def test_config_takes_the_repository_first(run: Run, sample_repo: str) -> None:
    # `skybutler config REPO` was "No such command": config alone broke the repository-first rule
    dumped = yaml.safe_load(run("config", sample_repo).stdout)
    assert dumped["registry"]["db"] == "sqlite:///{root}/registry.sqlite3"
    as_json = json.loads(run("config", sample_repo, "-f", "json").stdout)
    assert as_json == dumped
    result = run("config", sample_repo, "--validate")
    assert result.exit_code == 0
    assert result.stdout == "Configuration valid: 1 template(s), 3 dataset type(s) checked.\n"
    # the old spellings still work
    assert yaml.safe_load(run("config", "dump", sample_repo).stdout) == dumped
    assert run("config", "validate", sample_repo).stdout == result.stdout
    extra = run("config", sample_repo, "surplus")
    assert extra.exit_code == 2
    assert "unexpected extra argument(s): surplus" in extra.stderr


def test_config_help_shows_both_descriptions_whole(run: Run) -> None:
    # its help truncated both subcommands' descriptions
    text = " ".join(run("config", "--help").stdout.split())
    assert "Print REPO's effective configuration (butler.yaml with defaults and SKYBUTLER_* overrides applied)" in text
    assert (
        "with --validate check it: its keys, file templates, and a formatter and template for every dataset type"
        in text
    )


def test_config_validate_names_what_is_wrong(run: Run, sample_repo: str) -> None:
    config = Path(sample_repo) / "butler.yaml"
    data = yaml.safe_load(config.read_text())
    data["datastore"]["templates"]["meta"] = "{run}/{dataset_type}"  # not unique: lacks the dimensions
    config.write_text(yaml.safe_dump(data))
    result = run("config", "validate", sample_repo)
    assert result.exit_code == 1
    assert result.stderr.startswith("error [config]: 1 dataset type(s) cannot be stored: meta:")


def test_migrate_dry_run_then_apply(run: Run, sample_repo: str) -> None:
    assert run("migrate", sample_repo).stdout == "The registry schema is current; nothing to do.\n"
    engine = sa.create_engine(f"sqlite:///{sample_repo}/registry.sqlite3")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))  # as a repository of 0.1.0
    engine.dispose()
    refused = run("query-datasets", sample_repo)
    assert refused.exit_code == 1
    assert "run `skybutler migrate`" in refused.stderr
    dry = run("migrate", sample_repo, "--dry-run")
    pending = (
        "0002, 0003_dataset_type_format, 0004_datastore_name, 0005_pg_fk_checks, 0006_spatial_index, "
        f"0007_provenance, 0008_server_tokens, {SCHEMA_VERSION}"
    )
    assert dry.stdout == f"Would apply revision(s) {pending}. Dry run: nothing was changed.\n"
    assert run("query-datasets", sample_repo).exit_code == 1  # still refused: the dry run changed nothing
    assert run("migrate", sample_repo).stdout == f"Applied revision(s) {pending}.\n"
    assert run("query-datasets", sample_repo, "meta", "-f", "json").exit_code == 0


def test_reconcile_reports_and_repairs(run: Run, sample_repo: str) -> None:
    stray = Path(sample_repo) / "stray.txt"
    stray.write_text("x")
    report = json.loads(run("reconcile", sample_repo, "-f", "json").stdout)
    assert {"what": "unknown", "path": "stray.txt"} in report
    assert stray.exists()
    refused = run("reconcile", sample_repo, "--remove-unknown", input="n\n")
    assert refused.exit_code == 1
    assert stray.exists()
    # a file younger than the grace period may be a writer's in flight: kept
    assert run("reconcile", sample_repo, "--remove-unknown", "--yes").exit_code == 0
    assert stray.exists()
    assert run("reconcile", sample_repo, "--remove-unknown", "--yes", "--grace", "0").exit_code == 0
    assert not stray.exists()


def test_reconcile_remove_unknown_prints_only_json_on_stdout(run: Run, sample_repo: str) -> None:
    # the confirmation's list belongs with its question on stderr; stdout is the report a script parses
    (Path(sample_repo) / "stray.txt").write_text("x")
    result = run("reconcile", sample_repo, "--remove-unknown", "--yes", "--grace", "0", "-f", "json")
    assert result.exit_code == 0, result.output
    assert {"what": "unknown", "path": "stray.txt"} in json.loads(result.stdout)
    assert "About to delete 1 unknown file(s):" in result.stderr


def test_repository_commands_as_processes(tmp_path: Path) -> None:
    root = str(tmp_path / "r")
    assert run_process("create", root).returncode == 0
    done = run_process("config", "dump", root)
    assert done.returncode == 0
    assert yaml.safe_load(done.stdout)["universe"] == "default"
    assert run_process("migrate", root, "--dry-run").stdout == "The registry schema is current; nothing to do.\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("registry: {db: [unclosed\n", "butler.yaml is not valid YAML: "),
        ("- registry\n", "expected a mapping with keys among registry, datastore, universe"),
    ],
)
def test_a_broken_butler_yaml_is_one_config_error(run: Run, sample_repo: str, text: str, message: str) -> None:
    (Path(sample_repo) / "butler.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        DirectButler(sample_repo)
    result = run("query-datasets", sample_repo)
    assert result.exit_code == 1
    assert result.stderr.startswith("error [config]: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_create_refuses_an_empty_root(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # "" was the current folder: a repository appeared among whatever it held
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    result = run("create", "")
    assert result.exit_code == 1
    assert result.stderr == "error [config]: The repository root is empty; give the folder or URI to create it at " \
        "('.' for here).\n"  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("where", ["a-file/repo", "/proc/x"])
def test_create_where_no_folder_can_be_made_is_a_storage_error(run: Run, tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    if where.startswith("/proc") and not Path("/proc/self").exists():
        pytest.skip("no /proc on this system")
    root = where if where.startswith("/") else str(tmp_path / where)
    result = run("create", root)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error [storage]: Cannot create the repository folder {root}: ")
    assert result.stderr.endswith("; choose a folder you can write.\n")


def test_create_refuses_a_repository_inside_or_around_another(
    run: Run, registry_url: tuple[str, str | None], tmp_path: Path
) -> None:
    # outer/u inside outer's datastore: outer's verify listed u's files as unknown, and reconcile deleted them
    url, schema = registry_url
    outer = tmp_path / "outer"
    args = ["create", str(outer)] + (["--registry", url, "--schema", schema] if schema else [])
    assert run(*args).exit_code == 0
    inner = run("create", str(outer / "u"))
    assert inner.exit_code == 1
    inside = f"error [conflict]: {outer / 'u'} is inside the datastore of the repository at {outer}"
    assert inner.stderr.startswith(inside)
    assert not (outer / "u").exists()
    around = run("create", str(tmp_path))
    assert around.exit_code == 1
    assert around.stderr.startswith(f"error [conflict]: {tmp_path} holds the repository at {outer}")
    assert not (tmp_path / "butler.yaml").exists()
    assert run("verify", str(outer)).stdout == "0 ok, 0 missing, 0 corrupt, 0 unknown.\n"


def test_a_repository_beside_a_datastore_elsewhere_is_allowed(run: Run, tmp_path: Path) -> None:
    # a repository whose files live elsewhere does not own its folder's other contents
    extra = tmp_path / "extra.yaml"
    extra.write_text(f"datastore: {{root: {tmp_path / 'files'}}}\n")
    assert run("create", str(tmp_path / "outer"), "--config", str(extra)).exit_code == 0
    assert run("create", str(tmp_path / "outer" / "u")).exit_code == 0


def test_remove_unknown_names_what_it_would_delete_before_asking(run: Run, any_repo: str) -> None:
    # the question named neither the files nor their count
    root = Path(any_repo)
    (root / "junk.txt").write_text("junk")
    (root / "x").mkdir()
    (root / "x" / "j2.dat").write_text("j2")
    declined = run("reconcile", any_repo, "--grace", "0", "--remove-unknown", input="n\n")
    assert declined.exit_code == 1
    assert declined.stderr.startswith(
        "About to delete 2 unknown file(s):\n"
        "  2 file(s) no dataset refers to, 6 B in all:\n    junk.txt\n    x/j2.dat\n"
    )
    assert (root / "junk.txt").exists()
    done = run("reconcile", any_repo, "--grace", "0", "--remove-unknown", "--yes")
    assert done.exit_code == 0, done.output
    assert not (root / "junk.txt").exists()
    assert not (root / "x" / "j2.dat").exists()
    again = run("reconcile", any_repo, "--grace", "0", "--remove-unknown", "--yes")
    assert again.stderr == "No unknown files: nothing to delete.\n"
