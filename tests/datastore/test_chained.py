"""Chained datastores: per-dataset-type routing, put to all or the first, reads in chain order, atomic puts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.datastore import ChainedDatastore, MemoryDatastore
from skybutler.errors import ArtifactNotFoundError, ConfigError, FormatterError, StorageError
from skybutler.testing.sample import populate_sample
from skybutler.transfer import FileDataset

DIMS = ["instrument", "visit", "detector"]
DATA_ID = {"instrument": "Cam", "visit": 1, "detector": 2}
SCRATCH_THEN_FILES = {"type": "chained", "children": [{"name": "scratch", "type": "memory"}, {"name": "files"}]}


def _open(tmp_path: Path, registry_url: tuple[str, str | None], datastore: dict[str, Any]) -> DirectButler:
    url, schema = registry_url
    root = Butler.create(
        tmp_path / "repo",
        registry=None if url.startswith("sqlite") else url,
        schema=schema,
        config={"datastore": datastore},
    )
    butler = DirectButler(root, run="test/run")
    populate_sample(butler)
    return butler


@pytest.fixture
def chained(tmp_path: Path, registry_url: tuple[str, str | None]) -> Iterator[DirectButler]:
    """Memory in front of files at the repository root; every put goes to both."""
    with _open(tmp_path, registry_url, SCRATCH_THEN_FILES) as butler:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        yield butler


def _holders(butler: DirectButler, ref: Any) -> list[str]:
    """The names of the datastores the registry says hold ``ref``."""
    return sorted(a.datastore for a in butler.registry.datasets.all_artifacts([ref.id]).get(ref.id, ()))


def _files(root: Path) -> list[str]:
    """Files under a repository root other than its configuration and registry."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(("butler.yaml", "registry"))
    )


def _memory(butler: DirectButler) -> MemoryDatastore:
    leaf = butler.datastore.leaves()[0]
    assert isinstance(leaf, MemoryDatastore)
    return leaf


def test_a_put_goes_to_every_child_and_a_get_reads_the_first(chained: DirectButler) -> None:
    ref = chained.put({"a": 1}, "meta", DATA_ID)
    assert isinstance(chained.datastore, ChainedDatastore)
    assert _holders(chained, ref) == ["files", "scratch"]
    assert chained.get_uri(ref) == f"memory://scratch/{ref.id.hex}"  # the copy get reads
    assert len(_files(Path(chained.root))) == 1
    assert chained.verify().ok == 2  # both copies checked
    # the memory copy gone (as after a restart): the next child's copy is read, and verify says which is missing
    _memory(chained).delete([ref.id.hex])
    assert chained.get("meta", DATA_ID) == {"a": 1}
    report = chained.verify()
    assert (report.ok, report.missing) == (1, [(ref.id, f"memory://scratch/{ref.id.hex}")])


def test_remove_deletes_from_every_child(chained: DirectButler) -> None:
    refs = chained.put_many([({"v": v}, {**DATA_ID, "visit": v}) for v in range(3)], "meta")
    assert chained.remove(refs[:2]) == 2
    assert len(_memory(chained)) == 1
    assert len(_files(Path(chained.root))) == 1
    assert chained.registry.datasets.trash() == []
    assert chained.verify().ok == 2


def test_routing_by_dataset_type_globs_and_storage_class(tmp_path: Path, registry_url: tuple[str, str | None]) -> None:
    datastore = {
        "type": "chained",
        "children": [
            {"name": "scratch", "type": "memory", "constraints": {"accept": ["tmp_*"]}},
            {"name": "arrays", "root": "{root}/arrays", "constraints": {"storage_classes": ["NumpyArray"]}},
            {"name": "files", "root": "{root}/files", "constraints": {"reject": ["tmp_*"]}},
        ],
    }
    with _open(tmp_path, registry_url, datastore) as butler:
        butler.register_dataset_type("tmp_meta", DIMS, "StructuredDataDict")
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        butler.register_dataset_type("tmp_array", DIMS, "NumpyArray")
        scratch = butler.put({"a": 1}, "tmp_meta", DATA_ID)
        kept = butler.put({"b": 2}, "meta", DATA_ID)
        both = butler.put(np.arange(3), "tmp_array", DATA_ID)
        assert _holders(butler, scratch) == ["scratch"]
        assert _holders(butler, kept) == ["files"]
        assert _holders(butler, both) == ["arrays", "scratch"]
        assert (butler.get(scratch), butler.get(kept)) == ({"a": 1}, {"b": 2})
        np.testing.assert_array_equal(butler.get(both), np.arange(3))
        root = Path(butler.root)
        assert [p.split("/")[0] for p in _files(root)] == ["arrays", "files"]


def test_put_first_writes_only_to_the_first_child_that_accepts(
    tmp_path: Path, registry_url: tuple[str, str | None]
) -> None:
    with _open(tmp_path, registry_url, {**SCRATCH_THEN_FILES, "put": "first"}) as butler:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        ref = butler.put({"a": 1}, "meta", DATA_ID)
        assert _holders(butler, ref) == ["scratch"]
        assert _files(Path(butler.root)) == []


def test_a_type_no_child_accepts_is_refused_at_put_naming_the_rules(
    tmp_path: Path, registry_url: tuple[str, str | None]
) -> None:
    datastore = {
        "type": "chained",
        "children": [
            {"name": "scratch", "type": "memory", "constraints": {"accept": ["tmp_*"]}},
            {"name": "files", "constraints": {"accept": ["calexp*"], "storage_classes": ["Exposure"]}},
        ],
    }
    with _open(tmp_path, registry_url, datastore) as butler:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        with pytest.raises(ConfigError) as info:
            butler.put({"a": 1}, "meta", DATA_ID)
        message = str(info.value)
        assert "'meta'" in message
        assert "memory datastore 'scratch': accept ['tmp_*']" in message
        assert "file datastore 'files': accept ['calexp*'], storage classes ['Exposure']" in message
        assert butler.registry.datasets.count() == 0


def test_a_failure_in_one_child_leaves_nothing_in_the_others(chained: DirectButler) -> None:
    items: list[tuple[dict[str, Any], dict[str, Any]]] = [({"v": v}, {**DATA_ID, "visit": v}) for v in range(4)]
    items[2] = ({"v": {1, 2}}, {**DATA_ID, "visit": 2})  # a set: copied in memory, but JSON cannot write it
    with pytest.raises(FormatterError, match="as JSON"):
        chained.put_many(items, "meta")
    assert chained.registry.datasets.count() == 0
    memory = _memory(chained)
    assert (len(memory), memory.staged_ids()) == (0, [])
    assert _files(Path(chained.root)) == []
    report = chained.reconcile(grace_seconds=0)
    assert (report.removed_staging, report.unknown, report.missing) == ([], [], [])


@pytest.mark.s3
def test_a_failure_on_s3_leaves_nothing_in_the_local_copy(
    tmp_path: Path, registry_url: tuple[str, str | None], s3_root: str, s3_endpoint: str
) -> None:
    s3 = {"name": "s3", "root": s3_root, "transport": {"endpoint_url": s3_endpoint, "max_attempts": 1}}
    with _open(tmp_path, registry_url, {"type": "chained", "children": [{"name": "local"}, s3]}) as butler:
        butler.register_dataset_type("array", DIMS, "NumpyArray")
        ref = butler.put(np.arange(3), "array", DATA_ID)
        assert _holders(butler, ref) == ["local", "s3"]
        assert butler.get_uri(ref).startswith(Path(butler.root).as_uri())  # the local copy is read first
        before = _files(Path(butler.root))
        _delete_bucket(s3_root, s3_endpoint)  # every write to the S3 child now fails
        with pytest.raises(StorageError):
            butler.put_many([(np.arange(v + 1), {**DATA_ID, "visit": v}) for v in range(2, 5)], "array")
        assert butler.registry.datasets.count() == 1
        assert _files(Path(butler.root)) == before  # the local child's staged copies were removed
        np.testing.assert_array_equal(butler.get(ref), np.arange(3))


def _delete_bucket(s3_root: str, endpoint: str) -> None:
    import boto3

    bucket = boto3.resource("s3", endpoint_url=endpoint, region_name="us-east-1").Bucket(
        s3_root.removeprefix("s3://").split("/", 1)[0]
    )
    bucket.objects.all().delete()
    bucket.delete()


def test_after_a_restart_memory_copies_are_gone_and_recognised(chained: DirectButler, tmp_path: Path) -> None:
    chained.register_dataset_type("tmp_meta", DIMS, "StructuredDataDict")
    both = chained.put({"a": 1}, "meta", DATA_ID)
    script = textwrap.dedent(
        f"""
        from skybutler import Butler
        from skybutler.errors import ArtifactNotFoundError
        with Butler({chained.root!r}, writeable=True, collections="test/run") as butler:
            print(butler.get("meta", instrument="Cam", visit=1, detector=2))
            report = butler.verify()
            print(report.ok, [uri for _, uri in report.missing])
            print(butler.reconcile(grace_seconds=0).missing)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")},
    ).stdout.splitlines()  # fmt: skip
    assert out == ["{'a': 1}", f"1 ['memory://scratch/{both.id.hex}']", f"['{both.id.hex}']"]


def test_a_child_dropped_from_the_configuration_is_named(chained: DirectButler) -> None:
    ref = chained.put({"a": 1}, "meta", DATA_ID)
    only_files = {"datastore": {"children": [{"name": "files"}]}}
    with DirectButler(chained.root, collections="test/run", config=only_files) as butler:
        assert butler.get(ref) == {"a": 1}  # the files child still holds a copy
    other = {"datastore": {"children": [{"name": "other"}]}}
    with (
        DirectButler(chained.root, collections="test/run", config=other) as butler,
        pytest.raises(ConfigError, match=r"datastore 'files', which this repository's configuration"),
    ):
        butler.get(ref)


def test_ingest_retrieve_and_transfer_use_the_file_child(chained: DirectButler, tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text('{"x": 1}')
    ref = chained.ingest(FileDataset(str(source), dataset_type="meta", data_id=DATA_ID), transfer="copy")[0]
    assert _holders(chained, ref) == ["files"]
    assert chained.get(ref) == {"x": 1}
    put = chained.put({"y": 2}, "meta", {**DATA_ID, "visit": 3})
    out = [Path(p) for p in chained.retrieve_artifacts([ref, put], tmp_path / "out")]
    assert out[0].read_text() == '{"x": 1}'
    assert out[1].suffix == ".json"
    target_root = Butler.create(tmp_path / "target")
    with DirectButler(target_root, run="copied") as target:
        copied = target.transfer_from(chained, [ref, put])
        assert [target.get(r) for r in copied] == [{"x": 1}, {"y": 2}]


@pytest.mark.parametrize(
    ("datastore", "message"),
    [
        ({"type": "chained"}, "needs at least one child"),
        ({"type": "chained", "children": [{"type": "memory"}]}, "each child needs a 'name'"),
        ({"type": "chained", "children": [{"name": "a", "type": "tape"}]}, "'file', 'memory' or 'chained'"),
        ({"type": "chained", "children": [{"name": "a", "type": "memory"}, {"name": "a"}]}, "repeated: ['a']"),
        ({"type": "chained", "children": [{"name": "a"}, {"name": "b"}]}, "distinct roots"),
        (
            {"type": "chained", "children": [{"name": "a", "type": "chained", "children": [{"name": "b"}]}]},
            "is chained itself",
        ),
        ({"type": "memory", "children": [{"name": "a"}]}, "only a chained datastore has children"),
        ({"type": "chained", "children": [{"name": "a", "constraints": {"acept": ["x"]}}]}, "acept"),
    ],
)
def test_invalid_chains_are_refused_at_create(tmp_path: Path, datastore: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="Invalid") as info:
        Butler.create(tmp_path / "repo", config={"datastore": datastore})
    assert message in str(info.value)
    assert not (tmp_path / "repo" / "butler.yaml").exists()


def test_memory_only_repositories_refuse_file_operations_clearly(tmp_path: Path) -> None:
    root = Butler.create(tmp_path / "repo", config={"datastore": {"type": "memory"}})
    with DirectButler(root, run="test/run") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        ref = butler.put({"a": 1}, "meta", DATA_ID)
        source = tmp_path / "in.json"
        source.write_text("{}")
        with pytest.raises(StorageError, match=r"Cannot ingest files: .* in memory, not files"):
            butler.ingest(FileDataset(str(source), dataset_type="meta", data_id={**DATA_ID, "visit": 2}))
        with pytest.raises(StorageError, match="holds Python objects, not files"):
            butler.retrieve_artifacts([ref], tmp_path / "out")
        assert not (tmp_path / "out").exists()
        butler.datastore.leaves()[0].delete([ref.id.hex])  # as after a restart
        with pytest.raises(ArtifactNotFoundError, match="last only as long as the process"):
            butler.get(ref)


def test_the_documented_chain_is_valid_and_routes_as_described() -> None:
    import re

    import yaml

    from skybutler.config import load_config
    from skybutler.datasets import DatasetType
    from skybutler.datastore import open_datastore
    from skybutler.dimensions import DimensionUniverse

    text = (Path(__file__).parents[2] / "docs" / "storage.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "type: chained" in b)
    config = load_config(yaml.safe_load(block), environ={})
    assert [c.name for c in config.datastore.children] == ["scratch", "local", "s3"]
    datastore = open_datastore(config.datastore, "/tmp/nowhere", repository_key="docs")
    assert isinstance(datastore, ChainedDatastore)
    universe = DimensionUniverse.default()

    def targets(name: str, storage_class: str) -> list[str]:
        found = datastore.targets(DatasetType(name, ["instrument"], storage_class, universe=universe))
        return [child.name for child in found]

    assert targets("tmp_meta", "StructuredDataDict") == ["scratch"]
    assert targets("calexp", "Exposure") == ["local", "s3"]
    assert targets("src", "AstropyTable") == ["local"]


def test_children_inherit_the_chains_settings_unless_they_set_their_own(tmp_path: Path) -> None:
    datastore = {
        "type": "chained",
        "data_models": {"meta": {"required_keys": ["EXPTIME"]}},
        "children": [{"name": "scratch", "type": "memory"}, {"name": "files", "checksum": "blake2b"}],
    }
    root = Butler.create(tmp_path / "repo", config={"datastore": datastore})
    written = (Path(root) / "butler.yaml").read_text()
    assert "- name: scratch\n    type: memory\n" in written  # a child lists only its own settings
    with DirectButler(root, run="test/run", config={"datastore": {"checksum": "none"}}) as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", DIMS, "Metadata")
        with pytest.raises(FormatterError, match="EXPTIME"):  # the chain's data model, in every child
            butler.put({"AIRMASS": 1.0}, "meta", DATA_ID)
        ref = butler.put({"EXPTIME": 30.0}, "meta", DATA_ID)
        checksums = {a.datastore: a.checksum for a in butler.registry.datasets.all_artifacts([ref.id])[ref.id]}
        assert checksums["scratch"] is None
        assert (checksums["files"] or "").startswith("blake2b:")  # its own setting beats the chain's override


def test_export_of_datasets_held_only_in_memory_needs_no_files(tmp_path: Path) -> None:
    children = [{"name": "scratch", "type": "memory", "constraints": {"accept": ["tmp_*"]}}, {"name": "files"}]
    datastore = {"type": "chained", "put": "first", "children": children}
    root = Butler.create(tmp_path / "repo", config={"datastore": datastore})
    with DirectButler(root, run="test/run") as butler:
        populate_sample(butler)
        butler.register_dataset_type("tmp_meta", DIMS, "StructuredDataDict")
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        butler.put({"a": 1}, "tmp_meta", DATA_ID)
        butler.put({"b": 2}, "meta", DATA_ID)
        with pytest.raises(StorageError, match=r"1 dataset\(s\) to export are held only in memory.*tmp_meta"):
            butler.export(tmp_path / "out.zip")
        assert not (tmp_path / "out.zip").exists()
        report = butler.export(tmp_path / "out.yaml")  # the registry's view: no files needed
        assert report.datasets == 2
        report = butler.export(tmp_path / "files.zip", dataset_types="meta")
        assert report.artifacts == 1


def test_trash_of_a_child_left_out_of_the_configuration_waits_for_it(
    tmp_path: Path, registry_url: tuple[str, str | None]
) -> None:
    far = tmp_path / "far"
    chain = {"type": "chained", "children": [{"name": "near"}, {"name": "far", "root": far.as_uri()}]}
    with _open(tmp_path, registry_url, chain) as butler:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        ref = butler.put({"a": 1}, "meta", DATA_ID)
        root = Path(butler.root)
    assert len(_files(far)) == 1  # both children keep the file at the same relative path
    near_only = {"datastore": {"children": [{"name": "near"}]}}
    with DirectButler(root, run="test/run", config=near_only) as butler:
        assert butler.remove([ref]) == 1
    assert _files(root) == []
    assert len(_files(far)) == 1  # "far" is not configured here: its file waits in the trash
    with DirectButler(root, run="test/run") as butler:
        report = butler.reconcile(grace_seconds=0)
    assert len(report.removed_trash) == 1
    assert _files(far) == []
