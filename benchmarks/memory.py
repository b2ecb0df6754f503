"""Memory: a get of a large dataset holds one copy of it, not two.

Usage::

    python benchmarks/memory.py [--gib 1.0] [--format npy|fits|hdf5]

One process writes a float64 array of ``--gib`` GiB through ``put`` (NumpyArray as .npy, or an Image as FITS or
HDF5) and exits; a fresh process opens the repository, records its resident set, gets the dataset and reports the
peak resident set it reached.  The growth divided by the array size is the number of copies held at the peak:
1.0 means the bytes were read straight into the returned array.  Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STORAGE = {"npy": "NumpyArray", "fits": "Image", "hdf5": "Image"}


def _rss_kib() -> int:
    """The current resident set in KiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def write(root: str, gib: float, fmt: str) -> None:
    import numpy as np

    from skybutler import Butler

    side = int((gib * 2**30 / 8) ** 0.5)
    Butler.create(root, config={"datastore": {"formatters": {"big": fmt}}})
    with Butler(root, run="mem") as butler:
        butler.insert_dimension_records("instrument", [{"name": "Cam"}])
        butler.register_dataset_type("big", ["instrument"], STORAGE[fmt])
        data = np.ones((side, side), dtype=np.float64)
        if fmt != "npy":
            from skybutler.astro import Image

            butler.put(Image(data), "big", instrument="Cam")
        else:
            butler.put(data, "big", instrument="Cam")


def read(root: str) -> None:
    from skybutler import Butler

    with Butler(root, collections="mem") as butler:
        butler.get_dataset_type("big")  # registry and formatter machinery loaded before the baseline
        import numpy  # noqa: F401  (imported by the read anyway; not part of the dataset's cost)

        before = _rss_kib()
        start = time.perf_counter()
        obj = butler.get("big", instrument="Cam")
        seconds = time.perf_counter() - start
        array = getattr(obj, "array", obj)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        size_kib = array.nbytes // 1024
        print(json.dumps({"array_mib": round(size_kib / 1024), "baseline_mib": round(before / 1024),
                          "peak_mib": round(peak / 1024), "copies_at_peak": round((peak - before) / size_kib, 2),
                          "get_s": round(seconds, 2)}))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="array size in GiB")
    parser.add_argument("--format", choices=sorted(STORAGE), default="npy")
    parser.add_argument("--_read", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._read:
        read(args._read)
        return 0
    with tempfile.TemporaryDirectory(prefix="skybutler-memory-") as tmp:
        root = str(Path(tmp) / "repo")
        subprocess.run([sys.executable, "-c", f"import memory; memory.write({root!r}, {args.gib}, {args.format!r})"],
                       check=True, cwd=Path(__file__).parent)  # fmt: skip
        out = subprocess.run([sys.executable, __file__, "--_read", root], check=True, capture_output=True, text=True)
        result = {"format": args.format, **json.loads(out.stdout)}
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
