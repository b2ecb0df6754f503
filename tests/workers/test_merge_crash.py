"""A merge killed after its registry transaction and before promotion (issue 24), on files and on S3.

Merge claims each output's final path (a hard link locally, a placeholder object on S3), registers the batch,
then promotes: the pending file under ``.pending/`` becomes the final file.  A process killed between the last
two steps leaves datasets registered whose final path is, on S3, only a placeholder.  What a user gets then,
and that ``reconcile`` (or a second merge) completes the promotion, is checked here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skybutler import WorkerButler
from skybutler.butler import DirectButler
from skybutler.datastore import PENDING, PendingArea
from skybutler.errors import SkyButlerError
from skybutler.testing.fixtures import datastore_repo
from skybutler.testing.scaleout import populate_scaleout, summarize
from skybutler.workers import Manifest

OUTPUTS = {"summary": ["instrument", "visit", "detector"]}


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def crashed(
    request: pytest.FixtureRequest,
    registry_url: tuple[str, str | None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[DirectButler, Manifest, list[dict[str, Any]]]:
    """A merge of 6 tasks killed (KeyboardInterrupt) after registration, before `promote_many`."""
    root = datastore_repo(request, registry_url, tmp_path / "repo", request.param)
    butler = DirectButler(root, run="w1/in", collections="w1/inputs")
    populate_scaleout(butler, n_visits=3, n_detectors=2)
    plan = butler.plan_work("meta", outputs=OUTPUTS, run="w1/out", inputs=["bias"])
    plan.save(tmp_path / "plan.manifest")
    records = []
    for i in range(len(plan)):
        with WorkerButler.from_manifest(str(plan.path), i) as wb:
            summarize(wb)
        records.append(wb.commit().to_dict())
    store = butler.datastore.files()

    def killed(staged: object) -> None:
        raise KeyboardInterrupt("killed between registration and promotion")

    monkeypatch.setattr(store, "promote_many", killed)
    with pytest.raises(KeyboardInterrupt):
        butler.merge(plan)
    monkeypatch.undo()
    return butler, plan, records


def _expected(butler: DirectButler, plan: Manifest, records: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    """Final path → (size, checksum) the workers recorded, for every output of the plan."""
    by_id = {o[0]: (o[1], o[2]) for r in records for o in r["outputs"]}
    return {out.path: by_id[out.id.hex] for task in plan for out in task.outputs}


def _pending_outputs(butler: DirectButler, plan: Manifest) -> list[str]:
    transport = butler.datastore.files().transport
    return list(transport.keys(f"{PENDING}{plan.area}/.out/"))


def _check_all_readable(butler: DirectButler, plan: Manifest, records: list[dict[str, Any]]) -> None:
    refs = list(butler.query_datasets("summary", collections="w1/out"))
    assert len(refs) == len(plan)
    for ref in refs:
        got = butler.get(ref)
        assert got["visit"] == ref.data_id["visit"]
        assert got["detector"] == ref.data_id["detector"]
    report = butler.verify(collections="w1/out")
    assert report.ok == len(plan)
    assert not report.missing
    assert not report.corrupt
    expected = _expected(butler, plan, records)
    for ref in refs:
        artifact = butler.registry.datasets.artifacts([ref.id])[ref.id]
        assert (artifact.size, artifact.checksum) == expected[artifact.path]
    assert _pending_outputs(butler, plan) == []


def test_registered_after_the_crash_and_readable_where_the_claim_shares_the_bytes(
    crashed: tuple[DirectButler, Manifest, list[dict[str, Any]]],
) -> None:
    butler, plan, _ = crashed
    refs = list(butler.query_datasets("summary", collections="w1/out"))
    assert len(refs) == len(plan)  # the transaction committed: the datasets exist
    transport = butler.datastore.files().transport
    ref = refs[0]
    if transport.is_local:  # a hard link: the final path is the file already
        assert butler.get(ref)["visit"] == ref.data_id["visit"]
    else:  # a placeholder: the read fails with our error, saying what to do
        with pytest.raises(SkyButlerError, match=r"never moved into place.*reconcile"):
            butler.get(ref)


def test_reconcile_finishes_the_promotion(crashed: tuple[DirectButler, Manifest, list[dict[str, Any]]]) -> None:
    butler, plan, records = crashed
    report = butler.reconcile(grace_seconds=0)
    assert not report.problems
    assert not report.missing
    assert not any(k.startswith(f"{PENDING}{plan.area}/.out/") for k in report.pending)
    # each claim completed: a placeholder replaced by its pending file, a hard link's pending name dropped
    assert len(report.promoted) == len(plan)
    _check_all_readable(butler, plan, records)
    again = butler.reconcile(grace_seconds=0)  # nothing more to do
    assert not again.promoted
    assert not again.problems
    # the records stay until a merge consumes them: it adds nothing and tidies the area
    merged = butler.merge(plan)
    assert merged.registered == 0
    assert merged.already == len(plan)
    assert not merged.problems
    assert not list(butler.datastore.files().transport.keys(PENDING))
    _check_all_readable(butler, plan, records)


def test_a_second_merge_finishes_the_promotion(crashed: tuple[DirectButler, Manifest, list[dict[str, Any]]]) -> None:
    butler, plan, records = crashed
    report = butler.merge(plan)
    assert report.registered == 0
    assert report.already == len(plan)
    assert sorted(report.tasks) == list(range(len(plan)))
    assert not report.problems
    _check_all_readable(butler, plan, records)
    assert not list(butler.datastore.files().transport.keys(PENDING))
    assert butler.reconcile(grace_seconds=0).pending == []


def test_verify_says_a_placeholder_is_a_move_to_finish(
    crashed: tuple[DirectButler, Manifest, list[dict[str, Any]]],
) -> None:
    butler, plan, _ = crashed
    report = butler.verify(collections="w1/out")
    if butler.datastore.files().transport.is_local:
        assert report.ok == len(plan)
        return
    assert len(report.corrupt) == len(plan)
    assert all("never moved into place (run `skybutler reconcile`)" in why for _, _, why in report.corrupt)


def test_an_expired_area_keeps_the_bytes_of_registered_datasets(
    crashed: tuple[DirectButler, Manifest, list[dict[str, Any]]],
) -> None:
    butler, plan, records = crashed
    transport = butler.datastore.files().transport
    area = PendingArea(transport, plan.area)
    transport.put(area.key("area.json"), json.dumps({"kind": "plan", "created": 0.0, "expires": 1.0}).encode())
    # the files are younger than the grace period: left alone, yet never deleted as unknown
    young = butler.reconcile(grace_seconds=3600, remove_unknown=True)
    outputs = _pending_outputs(butler, plan)
    assert len(outputs) == len(plan)
    assert not set(outputs) & set(young.unknown)
    assert set(outputs) <= set(young.pending)
    report = butler.reconcile(grace_seconds=0, remove_unknown=True)
    assert len(report.promoted) == len(plan)
    assert not report.problems
    _check_all_readable(butler, plan, records)


def test_other_bytes_at_a_registered_outputs_pending_name_are_never_moved_into_place(
    crashed: tuple[DirectButler, Manifest, list[dict[str, Any]]],
) -> None:
    butler, plan, _ = crashed
    transport = butler.datastore.files().transport
    out = plan.task(0).outputs[0]
    rewritten = transport.get(out.pending).replace(b'"flux"', b'"FLUX"')  # a task run again, other bytes
    transport.put(out.pending, rewritten)
    merged = butler.merge(plan)
    assert any(p.startswith(out.pending) and "not the registered ones" in p for p in merged.problems)
    report = butler.reconcile(grace_seconds=0)
    assert out.path not in report.promoted
    assert transport.get(out.pending) == rewritten  # kept: reconcile reports it until its area expires
    ref = butler.get_dataset(out.id)
    assert ref is not None
    if transport.is_local:  # the claim was a hard link: the registered bytes are at the final path
        assert butler.get(ref)["detector"] == out.data_id["detector"]
        assert not report.problems
    else:  # the placeholder stays: the dataset is listed, never given the other bytes
        assert any(p.startswith(out.path) for p in report.problems)
        with pytest.raises(SkyButlerError, match="never moved into place"):
            butler.get(ref)
