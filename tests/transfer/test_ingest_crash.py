"""A bulk ingest killed mid-way (a real process, SIGKILL) leaves only what ``reconcile`` repairs; a re-run finishes."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest

from skybutler.butler import Butler, DirectButler
from skybutler.testing.sample import populate_sample
from skybutler.transfer import FileDataset

pytestmark = pytest.mark.slow

N_VISITS = 300
N_DETECTORS = 10
BATCH = 100


def _files(directory: Path) -> list[FileDataset]:
    out = []
    for visit in range(N_VISITS):
        for detector in range(N_DETECTORS):
            data_id = {"instrument": "Cam", "visit": visit, "detector": detector}
            out.append(FileDataset(directory / f"m_{visit}_{detector}.json", dataset_type="meta", data_id=data_id))
    return out


def _ingest(repo: str, directory: str, mode: str) -> None:
    with DirectButler(repo, run="raw") as butler:
        butler.ingest(*_files(Path(directory)), transfer=mode, batch_size=BATCH, id_mode="deterministic",
                      skip_existing=True)  # fmt: skip


@pytest.mark.parametrize("mode", ["copy", "symlink"])
def test_killed_bulk_ingest_is_repaired_by_reconcile(tmp_path: Path, mode: str) -> None:
    repo = str(tmp_path / "repo")
    Butler.create(repo)
    with DirectButler(repo, run="raw") as butler:
        populate_sample(butler, n_visits=N_VISITS, n_detectors=N_DETECTORS)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for fd in _files(incoming):
        Path(fd.path).write_text(json.dumps({"name": Path(fd.path).name}))
    process = mp.get_context("spawn").Process(target=_ingest, args=(repo, str(incoming), mode))
    process.start()
    deadline = time.monotonic() + 120
    with DirectButler(repo, writeable=True) as watcher:
        while watcher.registry.datasets.count() < 3 * BATCH and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join(30)
        registered = watcher.registry.datasets.count()
        assert 0 < registered < N_VISITS * N_DETECTORS, "the kill must land in the middle of the ingest"
        assert registered % BATCH == 0  # whole batches only: each is one transaction
        report = watcher.reconcile(grace_seconds=0)
        assert report.missing == []
        refs = watcher.query_datasets_in_run("meta", "raw")
        assert len(refs) == registered
        for ref in refs:  # every registered dataset has its file, promoted if the kill came before promotion
            assert watcher.get(ref) == {"name": f"m_{ref.data_id['visit']}_{ref.data_id['detector']}.json"}
        staging = Path(repo) / ".staging"
        assert not staging.exists() or not any(staging.iterdir())
        assert watcher.reconcile(grace_seconds=0).unknown == []
    _ingest(repo, str(incoming), mode)  # a re-run finishes the job
    with DirectButler(repo, collections="raw") as reader:
        assert reader.registry.datasets.count() == N_VISITS * N_DETECTORS
        assert reader.get("meta", instrument="Cam", visit=N_VISITS - 1, detector=3) == {
            "name": f"m_{N_VISITS - 1}_3.json"
        }
