"""The cost of checked reads (``datastore.verify_on_read``, on by default) on W1's ``get``: an interleaved A/B.

Usage::

    python benchmarks/verify_on_read.py [--n 2000] [--n-arr 500] [--repeat 7] [--big-mib 256]

One repository holds W1's ``meta`` dicts (~12 keys, JSON) and ``arr`` arrays (100 kB, npy), and optionally
one large array.  Two butlers open it, one checking (the default) and one with ``verify_on_read: false``;
each round times every ``get`` with both, alternating which goes first, so drift of the machine (other jobs,
the page cache, CPU frequency) falls on both alike.  Printed: the median over rounds of the time per get,
for each setting, and the ratio.  ``--control`` checks in both butlers (an A/A run): its "cost" is the noise
of the machine, to read the A/B figures against.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from _common import ARRAY_LENGTH, N_DETECTORS, meta_payload
from skybutler import Butler
from skybutler.testing.sample import populate_sample

DIMS = ["instrument", "visit", "detector"]


def _fill(root: str, n: int, n_arr: int, big_mib: int) -> list[dict[str, Any]]:
    data_ids = [{"instrument": "Cam", "visit": i // N_DETECTORS, "detector": i % N_DETECTORS} for i in range(n)]
    with Butler(root, run="run1") as butler:
        populate_sample(butler, n_visits=n // N_DETECTORS + 1, n_detectors=N_DETECTORS)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        butler.register_dataset_type("arr", DIMS, "NumpyArray")
        butler.put_many([(meta_payload(i), d) for i, d in enumerate(data_ids)], "meta")
        array = np.arange(ARRAY_LENGTH, dtype=np.float64)
        butler.put_many([(array, d) for d in data_ids[:n_arr]], "arr")
        if big_mib:
            butler.register_dataset_type("big", DIMS, "NumpyArray")
            butler.put(np.ones((big_mib << 20) // 8), "big", data_ids[0])
    return data_ids


def _per_get(butler: Butler, dataset_type: str, data_ids: list[dict[str, Any]]) -> tuple[float, float]:
    """Wall and CPU seconds per get of ``data_ids``."""
    get = butler.get
    wall, cpu = time.perf_counter(), time.process_time()
    for data_id in data_ids:
        get(dataset_type, data_id, collections="run1")
    return (time.perf_counter() - wall) / len(data_ids), (time.process_time() - cpu) / len(data_ids)


def main() -> None:
    """Run the A/B and print one line per dataset type."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="meta datasets (W1's N)")
    parser.add_argument("--n-arr", type=int, default=500, help="100 kB arrays")
    parser.add_argument("--repeat", type=int, default=7, help="rounds (each times both settings)")
    parser.add_argument(
        "--control", action="store_true", help="A/A: both butlers check (the spread is the noise of the machine)"
    )
    parser.add_argument("--batch", type=int, default=100, help="gets timed together")
    parser.add_argument("--big-mib", type=int, default=0, help="also one array of this many MiB (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="verify-ab-") as tmp:
        root = Butler.create(Path(tmp) / "repo")
        data_ids = _fill(root, args.n, args.n_arr, args.big_mib)
        batch = args.batch
        workloads: dict[str, Callable[[Butler, int], tuple[float, float]]] = {
            "meta (JSON, ~0.3 kB)": lambda b, i: _per_get(b, "meta", data_ids[i * batch : (i + 1) * batch]),
            "arr (npy, 100 kB)": lambda b, i: _per_get(b, "arr", data_ids[: args.n_arr][i * batch : (i + 1) * batch]),
        }
        batches = {"meta (JSON, ~0.3 kB)": max(args.n // batch, 1), "arr (npy, 100 kB)": max(args.n_arr // batch, 1)}
        if args.big_mib:
            name = f"big (npy, {args.big_mib} MiB)"
            workloads[name] = lambda b, i: _per_get(b, "big", data_ids[:1])
            batches[name] = 3
        with (
            Butler(root, collections="run1", config={"datastore": {"verify_on_read": True}}) as on,
            Butler(root, collections="run1", config={"datastore": {"verify_on_read": args.control}}) as off,
        ):
            assert on.datastore.config.verify_on_read
            assert off.datastore.config.verify_on_read == args.control
            times: dict[tuple[str, str], list[tuple[float, float]]] = {}
            for name, work in workloads.items():
                for i in range(batches[name]):  # warm: the page cache, the butlers' caches
                    work(on, i), work(off, i)
                # batches interleaved, alternating which setting goes first, so drift falls on both alike
                for round_ in range(args.repeat):
                    for i in range(batches[name]):
                        pair = [("on", on), ("off", off)]
                        for label, butler in pair if (round_ + i) % 2 == 0 else pair[::-1]:
                            times.setdefault((name, label), []).append(work(butler, i))
        print(f"median over {args.repeat} rounds of batches of {batch} gets (wall, and CPU of this process)")
        print(f"{'dataset type':<24} {'checked µs':>11} {'unchecked µs':>13} {'cost':>7} {'CPU cost':>9}")
        for name in workloads:
            on_wall, on_cpu = (statistics.median(t) * 1e6 for t in zip(*times[(name, "on")], strict=True))
            off_wall, off_cpu = (statistics.median(t) * 1e6 for t in zip(*times[(name, "off")], strict=True))
            print(
                f"{name:<24} {on_wall:>11.1f} {off_wall:>13.1f} {on_wall / off_wall - 1:>+7.1%} "
                f"{on_cpu / off_cpu - 1:>+9.1%}"
            )


if __name__ == "__main__":
    main()
