"""Scale-out speed (issue 24): plan, merge, worker overhead, a 1 000 000-task manifest, Dask against a direct butler.

Run: ``python benchmarks/scale_out.py [--n 10000] [--million 1000000] [--dask-workers 2]``.  Prints Markdown
for benchmarks/RESULTS.md.  Each task has one small input (``meta``, a dict of 12 keys) and one small output.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from skybutler import Butler, WorkerButler
from skybutler.testing.sample import populate_sample
from skybutler.workers import Manifest, write_manifest

DIMS = ["instrument", "visit", "detector"]
META = {f"key{i}": i * 1.5 for i in range(10)} | {"name": "w1", "flag": True}


def copy_meta(wb: WorkerButler) -> None:
    """The benchmark's task: read the input, write it back as the output."""
    wb.put(wb.get("meta"), "meta_out")


def setup(root: Path, n: int) -> Butler:
    Butler.create(root)
    butler = Butler(root, run="in")
    n_visits = max(1, n // 10)
    populate_sample(butler, n_visits=n_visits, n_detectors=10)
    butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
    butler.register_dataset_type("meta_out", DIMS, "StructuredDataDict")
    items = [(META, {"instrument": "Cam", "visit": v, "detector": d}) for v in range(n_visits) for d in range(10)]
    butler.put_many(items[:n], "meta")
    return butler


_CPU: list[float] = [0.0]
"""CPU seconds (this process) of the last `timed` call: beside wall time, as the machine is shared."""


def timed(call: Any) -> tuple[float, Any]:
    start, cpu = time.perf_counter(), time.process_time()
    result = call()
    _CPU[0] = time.process_time() - cpu
    return time.perf_counter() - start, result


def worker_overhead(plan: Manifest, root: Path, sample: int) -> dict[str, float]:
    """Per-call cost of WorkerButler.get / put against the same file I/O done by hand (json + open)."""
    gets, puts, raw_gets, raw_puts, opens = [], [], [], [], []
    for i in range(sample):
        t0 = time.perf_counter()
        wb = WorkerButler.from_manifest(str(plan.path), i)
        t1 = time.perf_counter()
        obj = wb.get("meta")
        t2 = time.perf_counter()
        wb.put(obj, "meta_out")
        t3 = time.perf_counter()
        opens.append(t1 - t0)
        gets.append(t2 - t1)
        puts.append(t3 - t2)
        task = wb.task
        t4 = time.perf_counter()
        with open(root / task.inputs[0].path, "rb") as f:
            raw = json.loads(f.read())
        t5 = time.perf_counter()
        target = root / f"raw-{i}.json"
        tmp = target.with_suffix(f".tmp-{uuid.uuid4().hex[:6]}")
        tmp.write_bytes(json.dumps(raw).encode())
        tmp.replace(target)
        t6 = time.perf_counter()
        raw_gets.append(t5 - t4)
        raw_puts.append(t6 - t5)
        wb.commit()
    ms = 1000.0
    return {
        "open": statistics.median(opens) * ms,
        "get": statistics.median(gets) * ms,
        "raw_get": statistics.median(raw_gets) * ms,
        "put": statistics.median(puts) * ms,
        "raw_put": statistics.median(raw_puts) * ms,
    }


def million(plan: Manifest, path: Path, n: int) -> tuple[float, int, dict[str, float]]:
    """Write an ``n``-task manifest (the plan's rows repeated with fresh IDs); its size and one slice's load time."""
    rows = list(plan.rows())

    def generate() -> Any:
        for i in range(n):
            _, inputs, outputs = rows[i % len(rows)]
            ins = [[t, uuid.uuid4().hex, v, p, f, s, c] for t, _, v, p, f, s, c in inputs]
            outs = [[t, uuid.uuid4().hex, v, p, f] for t, _, v, p, f in outputs]
            yield [i, ins, outs]

    seconds, _ = timed(lambda: write_manifest(path, plan.header, generate()))
    probe = (
        "import time, random, sys\n"
        "t0 = time.perf_counter()\n"
        "from skybutler.workers import Manifest\n"
        "t1 = time.perf_counter()\n"
        "m = Manifest.load(sys.argv[1]); task = m.task(int(sys.argv[2]))\n"
        "t2 = time.perf_counter()\n"
        "print((t1 - t0) * 1000, (t2 - t1) * 1000)\n"
    )
    imports, loads = [], []
    for task in (0, n // 2, n - 1, 123_457 % n, 987_653 % n):
        out = subprocess.run([sys.executable, "-c", probe, str(path), str(task)], capture_output=True, text=True,
                             check=True).stdout.split()  # fmt: skip
        imports.append(float(out[0]))
        loads.append(float(out[1]))
    warm = []
    for task in range(0, n, max(1, n // 200)):
        t, _ = timed(lambda task=task: Manifest.load(path).task(task))
        warm.append(t * 1000)
    return seconds, path.stat().st_size, {"cold_import_ms": statistics.median(imports),
                                          "cold_load_ms": statistics.median(loads),
                                          "warm_load_ms": statistics.median(warm)}  # fmt: skip


def dask_vs_direct(butler: Butler, plan: Manifest, workers: int, where: str) -> tuple[float, float]:
    import distributed

    from skybutler.exec import run_dask

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:  # fmt: skip
        client.run(lambda: None)  # workers up before the clock starts
        dask_s, summary = timed(lambda: run_dask(plan, copy_meta, client=client))
    assert not summary.failed, summary.failed
    direct = Butler(butler.root, run="direct", collections="in")
    refs = list(direct.query_datasets("meta", where=where))

    def direct_loop() -> None:
        for ref in refs:
            direct.put(direct.get(ref), "meta_out", ref.data_id)

    direct_s, _ = timed(direct_loop)
    return dask_s, direct_s


def row(step: str, figure: str, target: str = "") -> None:
    """One Markdown table row, printed as soon as it is measured."""
    print(f"| {step} | {figure} | {target} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--million", type=int, default=1_000_000)
    parser.add_argument("--dask-workers", type=int, default=2)
    parser.add_argument("--dask-n", type=int, default=None, help="tasks of the Dask comparison (default: --n)")
    parser.add_argument("--sample", type=int, default=2000, help="tasks timed call by call for the overhead")
    args = parser.parse_args()
    n = args.n
    print("| step | figure | target |\n|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory(prefix="skybutler-scale-out-") as tmp:
        root = Path(tmp) / "repo"
        butler = setup(root, n)
        outputs = {"meta_out": DIMS}
        plan_s, plan = timed(lambda: butler.plan_work("meta", outputs=outputs, run="out", collections="in"))
        row(f"plan {n} tasks (query, resolve, predict)", f"{plan_s:.2f} s (CPU {_CPU[0]:.2f} s)", "≤ 2 s")
        save_s, _ = timed(lambda: plan.save(Path(tmp) / "plan.manifest"))
        row("save the manifest", f"{save_s:.2f} s")
        sample = min(args.sample, n)
        o = worker_overhead(plan, root, sample)
        row("worker: open a task (manifest slice, attempt marker)", f"{o['open']:.3f} ms")
        row("worker get, median", f"{o['get']:.3f} ms; by hand (open, read, json) {o['raw_get']:.3f} ms; "
            f"overhead {o['get'] - o['raw_get']:.3f} ms", "≤ 0.2 ms over the I/O")  # fmt: skip
        row("worker put, median", f"{o['put']:.3f} ms; by hand (json, write, rename) {o['raw_put']:.3f} ms; "
            f"overhead {o['put'] - o['raw_put']:.3f} ms", "≤ 0.2 ms over the I/O")  # fmt: skip
        run_s, records = timed(lambda: [_run(plan, i) for i in range(sample, n)])
        row(f"{n - sample} tasks in one process (open, get, put, commit)", f"{run_s:.2f} s")
        merge_s, report = timed(lambda: butler.merge(plan))
        assert report.registered == n, report
        assert not report.refused, report
        row(f"merge {n} outputs (records read from the pending area)", f"{merge_s:.2f} s (CPU {_CPU[0]:.2f} s)",
            "≤ 2 s")  # fmt: skip
        again_s, again = timed(lambda: butler.merge(plan, records))
        assert again.registered == 0
        row(f"merge {len(records)} records again (nothing to add)", f"{again_s:.2f} s")
        big = Path(tmp) / "million.manifest"
        write_s, size, slice_ms = million(plan, big, args.million)
        row(f"{args.million}-task manifest: write", f"{write_s:.1f} s")
        row(f"{args.million}-task manifest: size", f"{size / 2**20:.0f} MiB ({size / args.million:.0f} B/task)")
        row(f"one worker's slice of it, fresh process (after `import skybutler.workers`, "
            f"{slice_ms['cold_import_ms']:.0f} ms)", f"{slice_ms['cold_load_ms']:.2f} ms", "≤ 50 ms")  # fmt: skip
        row("one worker's slice of it, warm (load + task)", f"{slice_ms['warm_load_ms']:.3f} ms")
        big.unlink()
        dask_n = args.dask_n or n
        where = f"visit < {dask_n // 10}"
        plan2 = butler.plan_work("meta", where, outputs=outputs, run="out-dask", collections="in")
        plan2.save(Path(tmp) / "plan2.manifest")
        dask_s, direct_s = dask_vs_direct(butler, plan2, args.dask_workers, where)
        row(f"Dask LocalCluster ({args.dask_workers} workers): {len(plan2)} tasks, no merge", f"{dask_s:.2f} s")
        row(f"direct butler in one process: {len(plan2)} get + put", f"{direct_s:.2f} s")


def _run(plan: Manifest, i: int) -> dict[str, Any]:
    with WorkerButler.from_manifest(str(plan.path), i) as wb:
        copy_meta(wb)
    return wb.commit().to_dict()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
