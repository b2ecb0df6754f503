"""Grants on the provenance and history endpoints: reads need ``read`` on what they show, records and inputs
need ``write`` on the run and ``read`` on the inputs; a refusal names the collection and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from skybutler.datasets import DatasetRef
from skybutler.errors import PermissionDeniedError
from skybutler.testing.server import ServedRepo, served_repo

DIMS = ["instrument", "visit", "detector"]
ONE = {"instrument": "Cam", "visit": 1, "detector": 1}


@pytest.fixture(scope="module")
def repo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedRepo]:
    """Bob's raw, alice's output made from it, and a calibration collection."""
    with served_repo(request, tmp_path_factory.mktemp("prov"), "sqlite-file") as served:
        with served.remote(writeable=True) as admin:
            admin.register_dataset_type("meta", DIMS, "StructuredDataDict")
            raw = admin.put({"who": "bob"}, "meta", ONE, run="u/bob/run1")
            admin.put({"who": "alice"}, "meta", {**ONE, "visit": 2}, run="u/alice/run1", inputs=[raw])
            admin.collections.register("calib", "CALIBRATION")
        yield served


def _refs(repo: ServedRepo) -> tuple[DatasetRef, DatasetRef]:
    with repo.remote() as admin:
        raw = admin.find_dataset("meta", ONE, collections="u/bob/run1")
        out = admin.find_dataset("meta", {**ONE, "visit": 2}, collections="u/alice/run1")
        assert raw is not None
        assert out is not None
        return raw, out


def test_reads_of_provenance_need_read_on_what_they_show(repo: ServedRepo) -> None:
    raw, out = _refs(repo)
    with repo.remote(repo.token("alice", ["read:u/alice/*", "write:u/alice/*"]), writeable=True) as alice:
        assert alice.run_info("u/alice/run1").run == "u/alice/run1"
        with pytest.raises(PermissionDeniedError, match="u/bob/run1"):
            alice.run_info("u/bob/run1")
        assert alice.lineage(out) == []  # bob's raw is in a run alice may not read: left out
        with pytest.raises(PermissionDeniedError, match="u/bob/run1"):
            alice.lineage_dot(out)  # a drawing shows every node
        with pytest.raises(PermissionDeniedError, match="u/bob/run1"):
            alice.impact(raw)  # starting from what one may not read
        with pytest.raises(PermissionDeniedError, match="u/bob/run1"):
            alice.get_dataset(raw.id)
        for refused in (
            lambda: alice.invalidated("calib"),
            lambda: alice.collections.history("calib", "meta"),
        ):
            with pytest.raises(PermissionDeniedError, match="calib"):
                refused()
    with repo.remote(repo.token("auditor", ["read:*"])) as auditor:
        assert [n.ref for n in auditor.lineage(out)] == [raw]
        assert f'"{raw.id}" -> "{out.id}";' in auditor.lineage_dot(out)


def test_writes_with_provenance_need_write_on_the_run_and_read_on_the_inputs(repo: ServedRepo) -> None:
    raw, _ = _refs(repo)
    with repo.local() as local:
        before = (local.registry.datasets.count(), sorted(local.query_collections()), local.verify().unknown)
    carol_grants = ["read:u/carol/*", "write:u/carol/*"]
    with repo.remote(repo.token("carol", carol_grants), writeable=True) as carol:
        for refused, named in (
            (lambda: carol.put({"x": 1}, "meta", {**ONE, "visit": 3}, run="u/carol/run1", inputs=[raw]), "u/bob"),
            (lambda: carol.run_context("u/bob/run9").__enter__(), "u/bob/run9"),
            (lambda: carol.remove([raw], even_if_used=True), "u/bob/run1"),
            (lambda: carol.collections.remove_runs(["u/bob/run1"], even_if_used=True), "u/bob/run1"),
            (lambda: carol.collections.set_doc("calib", "mine"), "calib"),
        ):
            with pytest.raises(PermissionDeniedError, match=named):
                refused()
    with repo.local() as local:
        after = (local.registry.datasets.count(), sorted(local.query_collections()), local.verify().unknown)
        assert after == before
        assert local.collections.get("calib").doc != "mine"
    with repo.remote(repo.token("dora", ["read:*", "write:u/dora/*"]), writeable=True) as dora:
        made = dora.put({"x": 1}, "meta", {**ONE, "visit": 4}, run="u/dora/run1", inputs=[raw])
        assert [n.ref for n in dora.lineage(made)] == [raw]
        assert dora.run_info("u/dora/run1").user  # dora's process is the run's writer
