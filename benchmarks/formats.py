"""File-format speed targets of issue 5, measured on skybutler against the libraries used directly.

* a 4k x 4k float32 image: ``put``/``get`` within 1.2x of writing/reading the same file with astropy (FITS)
  or h5py (HDF5) directly;
* a 100 x 100 ``bbox`` cut-out from it at least 20x faster than a full ``get``;
* a 2-column read of a 50-column, 1M-row Parquet table at least 10x faster than a full read.

Reads are the best of ``--repeat`` runs; writes the median, because a file system's first writes of new
files can be several times faster than its sustained rate, and each kind of write should see the same mix.
Each write goes to a new file, which is written back to disk (untimed ``fsync``) before the next, so no
write pays for an earlier one's write-back; ``--root /dev/shm`` measures the code without the disk.  Reads are
measured *warm* (the file in the page cache: the code's own cost) and *cold* (the file evicted first with
``posix_fadvise(DONTNEED)``, a per-file hint that touches no other process's cache: what a first read from
disk costs).  ``put`` is shown with the default blake2b checksum and with ``checksum: none``, since the
library writes no checksum.

Run: ``python benchmarks/formats.py [--size 4096] [--rows 1000000] [--repeat 5] [--root DIR] [--json]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.io import fits

from skybutler import Butler
from skybutler.astro import Box, Image
from skybutler.testing.sample import populate_sample

DIMS = ["instrument", "visit", "detector"]


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best(fn: Callable[[], Any], repeat: int, before: Callable[[], Any] | None = None) -> float:
    """The fastest of ``repeat`` calls of ``fn``, in seconds (``before`` runs untimed ahead of each)."""
    return best_with_cpu(fn, repeat, before)[0]


def best_with_cpu(fn: Callable[[], Any], repeat: int, before: Callable[[], Any] | None = None) -> tuple[float, float]:
    """The fastest wall-clock and the smallest CPU time (this process) of ``repeat`` calls, in seconds.

    On a shared machine the wall-clock time of a sub-millisecond call includes waits for a core; the CPU time
    does not, so it is the steadier measure of the code's own cost (it leaves out I/O waits, too).
    """
    walls, cpus = [], []
    for _ in range(repeat):
        if before is not None:
            before()
        cpu = time.process_time()
        walls.append(timed(fn))
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def settle(path: Path) -> None:
    """Write one file back to disk, so the next timed write does not pay for this one's write-back."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def evict(path: Path) -> None:
    """Drop one file from the page cache (written back first), so the next read comes from disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def data_ids() -> Iterator[dict[str, Any]]:
    """Fresh data IDs of the sample instrument (20 visits x 10 detectors), one per put."""
    for visit, detector in itertools.product(range(20), range(10)):
        yield {"instrument": "Cam", "visit": visit, "detector": detector}


def _local(butler: Butler, name: str, data_id: dict[str, Any]) -> Path:
    uri = butler.get_uri(name, data_id)
    return butler.datastore.files().transport.local_path(uri.removeprefix(butler.datastore.files().transport.root))


def _direct(fmt: str, array: Any) -> tuple[Callable[[Path], None], Callable[[Path], Any], Callable[[Path, Box], Any]]:
    """Write, read and cut-out functions using astropy or h5py directly."""
    if fmt == "fits":

        def fits_cutout(path: Path, box: Box) -> Any:
            with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
                return np.asarray(hdul[0].section[box.slices])

        return (
            lambda p: fits.PrimaryHDU(array).writeto(p, overwrite=True),
            lambda p: fits.getdata(p, memmap=False),
            fits_cutout,
        )

    def h5_write(path: Path) -> None:
        with h5py.File(path, "w") as f:
            f.create_dataset("data", data=array)

    def h5_read(path: Path, box: Box | None = None) -> Any:
        with h5py.File(path, "r") as f:
            return f["data"][() if box is None else box.slices]

    return h5_write, h5_read, h5_read


def image_figures(root: Path, size: int, repeat: int) -> dict[str, float]:
    """Image put/get against astropy and h5py, and cut-out against full get, for FITS and HDF5."""
    array = np.random.default_rng(42).normal(size=(size, size)).astype("f4")
    names = {"fits": "img_fits", "hdf5": "img_h5"}
    repo = Butler.create(root / "repo", config={"datastore": {"formatters": {v: k for k, v in names.items()}}})
    out: dict[str, float] = {}
    ids = data_ids()
    plain_config = {"datastore": {"checksum": "none"}}
    with Butler(repo, run="bench") as butler, Butler(repo, run="nosum", config=plain_config) as plain:
        populate_sample(butler)
        for fmt, name in names.items():
            butler.register_dataset_type(name, DIMS, "Image")
            out |= _format_figures(butler, plain, fmt, name, array, root, repeat, ids)
    return out


def _format_figures(
    butler: Butler,
    plain: Butler,
    fmt: str,
    name: str,
    array: Any,
    root: Path,
    repeat: int,
    ids: Iterator[dict[str, Any]],
) -> dict[str, float]:
    write, read, cutout = _direct(fmt, array)
    lib, put, put_plain = [], [], []
    for r in range(repeat):  # each to a new file, written back before the next write starts
        path = root / f"direct_{fmt}_{r}"
        lib.append(timed(lambda p=path: write(p)))
        settle(path)
        for who, times in ((butler, put), (plain, put_plain)):
            data_id = next(ids)
            times.append(timed(lambda b=who, d=data_id: b.put(Image(array), name, d)))
            settle(_local(who, name, data_id))
    out = {
        f"{fmt}_lib_write": statistics.median(lib),
        f"{fmt}_put": statistics.median(put),
        f"{fmt}_put_no_checksum": statistics.median(put_plain),
    }
    target = next(ids)
    butler.put(Image(array), name, target)
    ours, theirs = _local(butler, name, target), root / f"direct_{fmt}_0"
    box = Box(x0=array.shape[1] // 3, y0=array.shape[0] // 2, width=100, height=100)
    params = {"bbox": box}
    assert np.array_equal(butler.get(name, target, parameters=params).array, array[box.slices])
    for temp, evicting in (("warm", False), ("cold", True)):
        before_ours = (lambda: evict(ours)) if evicting else None
        before_theirs = (lambda: evict(theirs)) if evicting else None
        # cut-outs take well under a millisecond: many more runs than a full read, for a steady best
        calls = {
            "get": (lambda: butler.get(name, target), repeat, before_ours),
            "cutout": (lambda: butler.get(name, target, parameters=params), repeat * 20, before_ours),
            "lib_read": (lambda: read(theirs), repeat, before_theirs),
            "lib_cutout": (lambda: cutout(theirs, box), repeat * 20, before_theirs),
        }
        for what, (fn, runs, before) in calls.items():
            out[f"{fmt}_{what}_{temp}"], out[f"{fmt}_{what}_{temp}_cpu"] = best_with_cpu(fn, runs, before)
    return out


def layout_figures(root: Path, size: int, repeat: int) -> dict[str, float]:
    """h5py alone: a full read and a 100x100 cut-out of a contiguous and of a chunked (256x256) dataset.

    The hdf5 formatter writes contiguous datasets; this shows what chunking would cost and give.
    """
    array = np.random.default_rng(42).normal(size=(size, size)).astype("f4")
    box = Box(x0=size // 3, y0=size // 2, width=min(100, size // 4), height=min(100, size // 4))
    out: dict[str, float] = {}
    for layout, chunks in (("contiguous", None), ("chunked", (min(256, size), min(256, size)))):
        path = root / f"layout_{layout}.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("data", data=array, chunks=chunks)
        settle(path)

        def full(p: Path = path) -> Any:
            with h5py.File(p, "r") as f:
                return f["data"][()]

        def cut(p: Path = path) -> Any:
            with h5py.File(p, "r") as f:
                return f["data"][box.slices]

        out[f"h5py_{layout}_read_warm"] = best(full, repeat)
        out[f"h5py_{layout}_cutout_warm"] = best(cut, repeat * 20)
    return out


def table_figures(root: Path, rows: int, columns: int, repeat: int) -> dict[str, float]:
    """Full read against a 2-column read of a Parquet table, through the butler and with pyarrow."""
    rng = np.random.default_rng(7)
    table = pa.table({f"c{i:02d}": rng.normal(size=rows) for i in range(columns)})
    repo = Butler.create(root / "tables")
    out: dict[str, float] = {}
    wanted = ["c03", "c41"]
    with Butler(repo, run="bench") as butler:
        populate_sample(butler)
        butler.register_dataset_type("cat", DIMS, "ArrowTable")
        data_id = {"instrument": "Cam", "visit": 0, "detector": 0}
        out["parquet_put"] = timed(lambda: butler.put(table, "cat", data_id))
        path = _local(butler, "cat", data_id)
        params = {"columns": wanted}
        for temp, before in (("warm", None), ("cold", lambda: evict(path))):
            out[f"parquet_full_get_{temp}"] = best(lambda: butler.get("cat", data_id), repeat, before)
            out[f"parquet_2col_get_{temp}"] = best(
                lambda: butler.get("cat", data_id, parameters=params), repeat, before
            )
            out[f"pyarrow_full_read_{temp}"] = best(lambda: pq.read_table(path), repeat, before)
            out[f"pyarrow_2col_read_{temp}"] = best(lambda: pq.read_table(path, columns=wanted), repeat, before)
    return out


def report(f: dict[str, float], size: int, rows: int, columns: int) -> list[str]:
    """The result table: each target with its measured ratio (ms; ratios are ours / library's)."""

    def ms(key: str) -> str:
        return f"{f[key] * 1e3:7.1f}"

    lines = [f"image {size}x{size} float32 ({size * size * 4 / 2**20:.0f} MiB); table {rows} rows x {columns} columns"]
    for fmt, lib in (("fits", "astropy"), ("hdf5", "h5py")):
        w = f[f"{fmt}_lib_write"]
        plain = f[f"{fmt}_put_no_checksum"]
        lines.append(
            f"{fmt:5} put {ms(f'{fmt}_put')} ms ({f[f'{fmt}_put'] / w:.2f}x {lib}), without checksum "
            f"{plain * 1e3:.1f} ms ({plain / w:.2f}x); {lib} write {ms(f'{fmt}_lib_write')} ms [target <= 1.2x]"
        )
        for temp in ("warm", "cold"):
            get, cut = f[f"{fmt}_get_{temp}"], f[f"{fmt}_cutout_{temp}"]
            lines.append(
                f"{fmt:5} {temp}: get {ms(f'{fmt}_get_{temp}')} ms ({get / f[f'{fmt}_lib_read_{temp}']:.2f}x {lib}"
                f" [<= 1.2x]); 100x100 cut-out {cut * 1e3:6.2f} ms, {get / cut:.0f}x faster than get [>= 20x]"
                f" ({lib} section {f[f'{fmt}_lib_cutout_{temp}'] * 1e3:.2f} ms)"
            )
        get, cut = f[f"{fmt}_get_warm_cpu"], f[f"{fmt}_cutout_warm_cpu"]
        lines.append(
            f"{fmt:5} warm, CPU time: get {get * 1e3:.1f} ms ({get / f[f'{fmt}_lib_read_warm_cpu']:.2f}x {lib}); "
            f"cut-out {cut * 1e3:.2f} ms, {get / cut:.0f}x less than get ({lib} section "
            f"{f[f'{fmt}_lib_cutout_warm_cpu'] * 1e3:.2f} ms)"
        )
    lines.append(
        "h5py alone, warm: full read contiguous {:.1f} ms, chunked 256x256 {:.1f} ms; 100x100 cut-out contiguous "
        "{:.2f} ms, chunked {:.2f} ms".format(
            *(f[f"h5py_{k}_warm"] * 1e3 for k in
              ("contiguous_read", "chunked_read", "contiguous_cutout", "chunked_cutout"))
        )
    )  # fmt: skip
    for temp in ("warm", "cold"):
        full, two = f[f"parquet_full_get_{temp}"], f[f"parquet_2col_get_{temp}"]
        lines.append(
            f"parquet {temp}: full get {full * 1e3:.1f} ms, 2-column get {two * 1e3:.1f} ms: {full / two:.0f}x"
            f" [>= 10x] (pyarrow alone {ms(f'pyarrow_full_read_{temp}')} / {ms(f'pyarrow_2col_read_{temp}')} ms)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="image side in pixels")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the Parquet table")
    parser.add_argument("--columns", type=int, default=50, help="columns of the Parquet table")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (the best is kept)")
    parser.add_argument("--root", type=Path, default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="also print the raw figures as one JSON line")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="skybutler-formats-", dir=args.root) as tmp:
        root = Path(tmp)
        figures = image_figures(root, args.size, args.repeat)
        figures |= layout_figures(root, args.size, args.repeat)
        figures |= table_figures(root, args.rows, args.columns, args.repeat)
    print("\n".join(report(figures, args.size, args.rows, args.columns)))
    if args.json:
        print(json.dumps({"benchmark": "formats", "size": args.size, "rows": args.rows, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
