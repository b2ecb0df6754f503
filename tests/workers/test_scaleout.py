"""Plan, worker butlers and merge on each registry back-end (SQLite, PostgreSQL) with files."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skybutler import WorkerButler
from skybutler.butler import DirectButler
from skybutler.datastore import PENDING
from skybutler.errors import ConfigError, CorruptArtifactError, DatasetNotFoundError, PermissionDeniedError
from skybutler.testing.fixtures import datastore_repo
from skybutler.testing.scaleout import BIAS_SWITCH_VISIT, populate_scaleout, summarize
from skybutler.workers import Manifest
from skybutler.workers._plan import _no_credentials

OUTPUTS = {"summary": ["instrument", "visit", "detector"]}


@pytest.fixture
def w1(repo: str) -> DirectButler:
    butler = DirectButler(repo, run="w1/in", collections="w1/inputs")
    populate_scaleout(butler, n_visits=30, n_detectors=2)
    return butler


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def w1_stores(request: pytest.FixtureRequest, registry_url: tuple[str, str | None], tmp_path: Path) -> DirectButler:
    """The W1-shaped inputs on files and on S3 (moto's server on loopback), for the end-to-end checks."""
    root = datastore_repo(request, registry_url, tmp_path / "repo", request.param)
    butler = DirectButler(root, run="w1/in", collections="w1/inputs")
    populate_scaleout(butler, n_visits=30, n_detectors=2)
    return butler


def _plan(butler: DirectButler, tmp_path: Path, where: str = "") -> Manifest:
    plan = butler.plan_work("meta", where, outputs=OUTPUTS, run="w1/out", inputs=["bias"])
    plan.save(tmp_path / "plan.manifest")
    return plan


def _run(plan: Manifest, tasks: range | list[int], function: object = summarize) -> list[dict[str, object]]:
    records = []
    for i in tasks:
        with WorkerButler.from_manifest(str(plan.path), i) as wb:
            function(wb)  # type: ignore[operator]
        records.append(wb.commit().to_dict())
    return records


def _summaries(butler: DirectButler) -> int:
    return len(list(butler.query_datasets("summary", collections="w1/out")))


def test_plan_resolves_inputs_and_calibrations_and_predicts_outputs(w1: DirectButler, tmp_path: Path) -> None:
    plan = _plan(w1, tmp_path)
    assert len(plan) == 60
    loaded = Manifest.load(tmp_path / "plan.manifest")
    assert len(loaded) == 60
    assert loaded.plan_id == plan.plan_id
    for i in (0, 59):
        task = loaded.task(i)
        assert task == plan.task(i)
        meta, bias = task.inputs
        assert meta.dataset_type == "meta"
        assert bias.dataset_type == "bias"
        assert bias.data_id == {"instrument": "Cam", "detector": meta.data_id["detector"]}
        epoch = 0 if meta.data_id["visit"] < BIAS_SWITCH_VISIT else 1
        assert bias.path.startswith(f"w1/bias{epoch}/")  # the calibration valid at the visit's time
        (out,) = task.outputs
        assert out.data_id == meta.data_id
        assert out.path.startswith("w1/out/summary/")
        assert out.pending.startswith(f"{PENDING}{plan.area}/")
    # deterministic output IDs: planning again predicts the same ones
    again = w1.plan_work("meta", outputs=OUTPUTS, run="w1/out", inputs=["bias"])
    assert [t.outputs[0].id for t in again] == [t.outputs[0].id for t in plan]


def test_manifest_holds_no_registry_address_nor_credentials(w1: DirectButler, tmp_path: Path) -> None:
    _plan(w1, tmp_path)
    text = (tmp_path / "plan.manifest").read_bytes().split(b"\n", 1)[0].decode()
    header = json.loads(text)
    assert "registry" not in header
    assert "sqlite" not in text
    assert "postgresql" not in text
    # the configuration refuses credentials already; the plan checks again before copying it to workers
    with pytest.raises(ConfigError, match="password"):
        _no_credentials("https://user:secret@example.org/repo/", {})
    with pytest.raises(ConfigError, match="credential"):
        _no_credentials("s3://bucket/repo/", {"session_token": "x"})


def test_manifest_refuses_other_versions_and_damage(w1: DirectButler, tmp_path: Path) -> None:
    _plan(w1, tmp_path)
    path = tmp_path / "plan.manifest"
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(ConfigError, match="truncated"):
        Manifest.load(path)
    header, rest = data.split(b"\n", 1)
    path.write_bytes(header.replace(b'"version":1', b'"version":9') + b"\n" + rest)
    with pytest.raises(ConfigError, match="version 9"):
        Manifest.load(path)


def test_worker_reads_inputs_and_writes_only_its_outputs(w1: DirectButler, tmp_path: Path) -> None:
    plan = _plan(w1, tmp_path, "visit = 3")
    wb = WorkerButler.from_manifest(str(plan.path), 0)
    assert wb.get("meta")["visit"] == 3
    assert wb.get_deferred("bias").get()["epoch"] == 0
    assert wb.exists("meta")
    assert not wb.exists("summary")
    with pytest.raises(DatasetNotFoundError, match="no input calexp"):
        wb.get("calexp")
    with pytest.raises(PermissionDeniedError, match="may not write meta"):
        wb.put({"a": 1}, "meta")
    with pytest.raises(PermissionDeniedError, match="may not write summary"):
        wb.put({"a": 1}, "summary", visit=4)
    wb.put({"a": 1}, "summary")
    assert wb.exists("summary")
    record = wb.commit()
    assert [o[0] for o in record.outputs] == [plan.task(0).outputs[0].id.hex]
    with pytest.raises(PermissionDeniedError, match="committed"):
        wb.put({"a": 2}, "summary")


def test_worker_refuses_a_corrupt_input(w1: DirectButler, tmp_path: Path) -> None:
    plan = _plan(w1, tmp_path, "visit = 3")
    meta = plan.task(0).inputs[0]
    (Path(w1.root) / meta.path).write_text('{"visit": 4, "detector": 0, "flux": 0.0}')
    with pytest.raises(CorruptArtifactError):
        WorkerButler.from_manifest(str(plan.path), 0).get("meta")


_GUARDED = """
import sqlite3, sys
from skybutler import WorkerButler
from skybutler.errors import PermissionDeniedError
wb = WorkerButler.from_manifest(sys.argv[1], 0, isolated=True)
wb.put(wb.get("meta"), "summary")
try:
    sqlite3.connect(sys.argv[2])
except PermissionDeniedError as exc:
    print("refused:", exc)
import psycopg
try:
    wb.commit()
except PermissionDeniedError as exc:
    print("refused:", exc)
"""


def test_isolated_worker_cannot_reach_a_database(w1: DirectButler, tmp_path: Path) -> None:
    plan = _plan(w1, tmp_path, "visit = 3")
    registry = str(Path(w1.root) / "registry.sqlite3")
    done = subprocess.run(
        [sys.executable, "-c", _GUARDED, str(plan.path), registry], capture_output=True, text=True, check=True
    )
    first, second = done.stdout.splitlines()
    assert first.startswith("refused: A scale-out worker may not open a database (sqlite3.connect(")
    assert second.startswith("refused: This worker process has database drivers imported (psycopg)")


def test_merge_registers_once_and_checks(w1: DirectButler, tmp_path: Path) -> None:
    plan = _plan(w1, tmp_path)
    records = _run(plan, range(len(plan)))
    report = w1.merge(plan, records)
    assert report.registered == 60
    assert sorted(report.tasks) == list(range(60))
    assert not report.refused
    assert _summaries(w1) == 60
    got = w1.get("summary", instrument="Cam", visit=BIAS_SWITCH_VISIT, detector=1, collections="w1/out")
    assert got == {"visit": BIAS_SWITCH_VISIT, "detector": 1, "flux": BIAS_SWITCH_VISIT * 100 + 1 - 1001.0, "epoch": 1}
    again = w1.merge(plan, records)  # idempotent
    assert again.registered == 0
    assert again.already == 60
    assert w1.merge(plan).registered == 0  # the records were consumed
    assert _summaries(w1) == 60
    assert w1.verify(collections="w1/out").ok
    assert w1.reconcile(grace_seconds=0).pending == []


def test_merged_outputs_record_their_tasks_inputs_as_lineage(w1: DirectButler, tmp_path: Path) -> None:
    plan = _plan(w1, tmp_path, where="visit = 1")
    w1.merge(plan, _run(plan, range(len(plan))))
    out = w1.find_dataset("summary", instrument="Cam", visit=1, detector=1, collections="w1/out")
    assert out is not None
    (task,) = [t for t in plan.tasks(range(len(plan))).values() if any(o.id == out.id for o in t.outputs)]
    ups = w1.lineage(out, direction="up", depth=1)
    assert {n.id for n in ups} == {i.id for i in task.inputs} != set()
    assert {n.dataset_type for n in ups} == {"meta", "bias"}
    (an_input,) = [i for i in task.inputs if i.dataset_type == "meta"]
    downs = w1.impact(w1.get_dataset(an_input.id))  # type: ignore[arg-type]
    assert out.id in {n.id for n in downs}


def test_unfinished_and_tampered_tasks_register_nothing(w1_stores: DirectButler, tmp_path: Path) -> None:
    w1 = w1_stores
    transport = w1.datastore.files().transport
    plan = _plan(w1, tmp_path, "visit < 3")
    # task 0 dies after writing its output, before its record: nothing of it may be registered
    wb = WorkerButler.from_manifest(str(plan.path), 0)
    summarize(wb)
    _run(plan, [1, 2, 3, 4, 5])
    tampered = plan.task(4).outputs[0]
    forged = transport.get(tampered.pending)
    assert b'"epoch":0' in forged
    transport.put(tampered.pending, forged.replace(b'"epoch":0', b'"epoch":7'))  # same size, other bytes
    missing = plan.task(5).outputs[0]
    transport.delete(missing.pending)
    report = w1.merge(plan)  # reads the records from the pending area
    assert sorted(report.tasks) == [1, 2, 3]
    assert set(report.refused) == {4, 5}
    assert "checksum" in report.refused[4]
    assert "missing" in report.refused[5]
    assert _summaries(w1) == 3
    assert len(w1.reconcile(grace_seconds=0).pending) > 0  # unmerged outputs are found, not removed
    # re-run the failed tasks: the merge completes
    rerun = _run(plan, [0, 4, 5])
    assert rerun[0]["attempt"] == 2
    report = w1.merge(plan)
    assert sorted(report.tasks) == [0, 4, 5]
    assert not report.refused
    assert _summaries(w1) == 6
    assert w1.verify(collections="w1/out").ok
    assert w1.reconcile(grace_seconds=0).pending == []
    assert not list(transport.keys(PENDING))  # the plan's area is gone with its last merged task


def test_records_go_to_one_log_per_worker_process_and_merge_tidies_it(w1: DirectButler, tmp_path: Path) -> None:
    transport = w1.datastore.files().transport
    plan = _plan(w1, tmp_path, "visit < 3")
    records = _run(plan, range(6))
    (log,) = {r["stored_at"] for r in records}
    assert str(log).endswith(".jsonl")  # a local disk: one log for this process, not one file per task
    assert len(transport.get(str(log)).splitlines()) == 6
    transport.delete(plan.task(2).outputs[0].pending)  # task 2 is refused: its line must stay
    report = w1.merge(plan, records[:4])
    assert sorted(report.tasks) == [0, 1, 3]
    assert [json.loads(line)["task"] for line in transport.get(str(log)).splitlines()] == [2, 4, 5]
    # the worker appends to the rewritten log; the merge takes task 2's newest attempt
    (again,) = _run(plan, [2])
    assert again["attempt"] == 2
    assert [json.loads(line)["task"] for line in transport.get(str(log)).splitlines()] == [2, 4, 5, 2]
    report = w1.merge(plan)
    assert sorted(report.tasks) == [2, 4, 5]
    assert _summaries(w1) == 6
    assert not list(transport.keys(PENDING))


def test_a_run_written_by_workers_has_a_run_record_with_their_environment(w1: DirectButler, tmp_path: Path) -> None:
    plan = _plan(w1, tmp_path, "visit < 2")
    started = time.time_ns()
    records = _run(plan, range(len(plan)))
    origins = [r["origin"] for r in records]
    assert len({o["env"] for o in origins}) == 1  # type: ignore[index]
    envs = list(w1.datastore.files().transport.keys(f"{PENDING}{plan.area}/.environments/"))
    assert len(envs) == 1  # stored once, however many tasks
    w1.merge(plan, records)
    info = w1.run_info("w1/out")
    (env,) = info.environments
    assert env.digest == origins[0]["env"]  # type: ignore[index]
    assert env.packages["sqlalchemy"]  # the distributions, as a butler records them
    assert info.host == socket.gethostname()
    assert started <= info.started <= min(o["started"] for o in origins)  # type: ignore[index]
    assert info.ended == max(o["ended"] for o in origins)  # type: ignore[index]
    assert "python" in info.command
    # a second merge of another plan into the same run: the same environment is linked once
    plan2 = _plan(w1, tmp_path, "visit = 2")
    w1.merge(plan2, _run(plan2, range(len(plan2))))
    assert len(w1.run_info("w1/out").environments) == 1


def test_a_task_given_twice_is_merged_once(w1: DirectButler, tmp_path: Path) -> None:
    plan = _plan(w1, tmp_path, "visit < 2")
    first = _run(plan, [0, 1])
    second = _run(plan, [1])  # a re-run of task 1: both of its records are given
    report = w1.merge(plan, first + second)
    assert report.registered == 2
    assert report.tasks == [0, 1]
    assert not report.refused
    assert _summaries(w1) == 2


def test_a_record_of_another_plan_or_task_is_refused(w1: DirectButler, tmp_path: Path) -> None:
    plan = _plan(w1, tmp_path, "visit < 2")
    (record,) = _run(plan, [0])
    forged = {**record, "task": 1}
    other = {**record, "plan": "0" * 32}
    report = w1.merge(plan, [forged, other])
    assert set(report.refused) == {1, 0}
    assert "not one of the task's" in report.refused[1]
    assert "plan" in report.refused[0]
    assert _summaries(w1) == 0


_RERUN = """
import json, sys
from skybutler import WorkerButler
from skybutler.testing.scaleout import summarize
with WorkerButler.from_manifest(sys.argv[1], int(sys.argv[2])) as wb:
    summarize(wb)
print(json.dumps(wb.commit().to_dict()))
"""


def test_a_refused_attempt_in_another_workers_log_is_tidied(w1: DirectButler, tmp_path: Path) -> None:
    transport = w1.datastore.files().transport
    plan = _plan(w1, tmp_path, "visit < 2")
    records = _run(plan, range(4))
    transport.delete(plan.task(2).outputs[0].pending)
    assert set(w1.merge(plan, records).refused) == {2}
    # task 2 runs again in another worker process (another log); only its new record is given to merge
    done = subprocess.run([sys.executable, "-c", _RERUN, str(plan.path), "2"], capture_output=True, text=True,
                          check=True)  # fmt: skip
    again = json.loads(done.stdout)
    assert again["stored_at"] != records[2]["stored_at"]
    report = w1.merge(plan, [again])
    assert report.tasks == [2]
    assert _summaries(w1) == 4
    assert not list(transport.keys(PENDING))  # the first log's line of the refused attempt went too
