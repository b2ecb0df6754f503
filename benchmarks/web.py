"""Web pages' speed: server time of every page on the W1 repository and on a large one, and image previews.

Usage::

    python benchmarks/web.py [--w1-n 2000] [--size 1000000] [--root DIR] [--image-side 4096] [--repeats 20] [--json]

Parts:

- ``w1``: builds the W1 repository (benchmarks/w1_skybutler.py, N datasets) and requests each page ``--repeats``
  times through the application in process (no network), signed in with a token as a browser is;
- ``scale``: the same pages on a repository of ``--size`` datasets, registered with the bulk registry insert as in
  benchmarks/scale.py (10 dataset types, 100 detectors).  With ``--root`` the repository is kept and a later run
  reuses it (``--size 0`` skips this part), because building a million datasets takes minutes;
- ``thumbnail``: a ``--image-side`` squared float32 FITS image: the first preview request (read, zscale, PNG) and
  the cached ones.

Each page's figure is the median and the 90th percentile of the server's own ``Server-Timing`` (wall and CPU
milliseconds inside the page function, template included), plus the whole request's wall time.  CPU time is the
process's, so it also counts the server's other threads; the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).parent
sys.path.insert(0, str(BENCHMARKS))

TARGET_MS = 200.0
THUMBNAIL_TARGET_MS = 300.0


def _client(root: str, token: str) -> Any:
    from fastapi.testclient import TestClient

    from skybutler.server import create_app

    client = TestClient(create_app(root))
    answer = client.post("/web/login", data={"token": token, "next": "/web/"}, follow_redirects=False)
    if answer.status_code != 303:
        raise RuntimeError(f"login failed: {answer.status_code} {answer.text[:300]}")
    return client


def _timing(header: str) -> tuple[float, float]:
    parts = dict(p.strip().split(";dur=") for p in header.split(","))
    return float(parts["app"]), float(parts["cpu"])


def _forget_counts() -> None:
    """Drop the home page's cached repository counts (``home_cold``: the cost of the first visit)."""
    from skybutler.server.web import _visible

    with _visible._lock:
        _visible._cache.clear()


def measure_pages(client: Any, pages: dict[str, str], repeats: int) -> dict[str, dict[str, float]]:
    """Median and 90th percentile of server wall, server CPU and request wall ms, per page."""
    out = {}
    for name, path in pages.items():
        first = client.get(path)  # warm-up (templates compiled, caches filled), not counted
        if first.status_code != 200:
            raise RuntimeError(f"{name}: {path} answered {first.status_code}: {first.text[:500]}")
        server, cpu, wall = [], [], []
        for _ in range(repeats):
            if name.endswith("_cold"):
                _forget_counts()
            start = time.perf_counter()
            answer = client.get(path)
            wall.append((time.perf_counter() - start) * 1000)
            s, c = _timing(answer.headers["server-timing"])
            server.append(s)
            cpu.append(c)
        out[name] = {
            "server_ms_median": round(statistics.median(server), 2),
            "server_ms_p90": round(sorted(server)[int(0.9 * (len(server) - 1))], 2),
            "cpu_ms_median": round(statistics.median(cpu), 2),
            "request_ms_median": round(statistics.median(wall), 2),
            "bytes": len(first.content),
        }
    return out


def _pages(butler: Any, run: str, dataset_type: str, calib: tuple[str, str] | None) -> dict[str, str]:
    first = next(iter(butler.query_datasets(dataset_type, collections=run, limit=1)))
    dims = ",".join(first.dataset_type.dimensions.required)
    q = f"type={dataset_type}&collections={run}"
    pages = {
        "home": "/web/",
        "home_cold": "/web/?cold",
        "collections": "/web/collections",
        "collection": f"/web/collection/{run}",
        "run_provenance": f"/web/run/{run}",
        "datasets_page1": f"/web/datasets?type={dataset_type}&collections={run}",
        "datasets_page10": f"/web/datasets?type={dataset_type}&collections={run}&page=10",
        "datasets_where": f"/web/datasets?{q}&where=visit%20%3E%205%20AND%20detector%20%3D%203",
        "datasets_sorted": f"/web/datasets?type={dataset_type}&collections={run}&order=-visit",
        "missing_one_visit": f"/web/missing?types={dataset_type}&dimensions={dims}&collections={run}&where=visit=2",
        "dataset": f"/web/dataset/{first.id.hex}",
        "lineage": f"/web/dataset/{first.id.hex}/lineage",
        "timeline_index": "/web/timeline",
    }  # fmt: skip
    if calib is not None:
        pages["timeline"] = f"/web/timeline?collection={calib[0]}&type={calib[1]}"
        pages["timeline_page2"] = f"/web/timeline?collection={calib[0]}&type={calib[1]}&page=2"
    return pages


def part_w1(root: Path, n: int, repeats: int) -> dict[str, Any]:
    from skybutler.butler import DirectButler
    from w1_skybutler import CALIB, RUN, run_skybutler

    run_skybutler(root, n, None)
    repo = str(root / "repo")
    with DirectButler(repo, writeable=True) as butler:
        token = butler.registry.tokens.create("bench", ["read:*"])[0]
        pages = _pages(butler, RUN, "meta", (CALIB, "bias"))
    return {"n": n, "pages": measure_pages(_client(repo, token), pages, repeats)}


def part_scale(root: Path, size: int, repeats: int) -> dict[str, Any]:
    import scale
    from skybutler import Butler
    from skybutler.butler import DirectButler

    repo = root / f"scale-{size}"
    marker = repo / "BUILT"
    build_s = None
    if not marker.exists():
        if repo.exists():
            import shutil

            shutil.rmtree(repo)  # a build that did not finish: start again
        Butler.create(repo)
        with Butler(repo, run=scale.RUN) as butler:
            build_s = round(scale.build(butler, size), 1)
        marker.write_text(f"{size}\n")
    with DirectButler(str(repo), writeable=True) as butler:
        token = butler.registry.tokens.create("bench", ["read:*"])[0]
        pages = _pages(butler, scale.RUN, "t0", (scale.CALIB, "bias"))
        n = butler.registry.datasets.count()
    return {"size": n, "build_s": build_s, "pages": measure_pages(_client(str(repo), token), pages, repeats)}


def part_thumbnail(root: Path, side: int, repeats: int) -> dict[str, Any]:
    import numpy as np

    from skybutler import Butler
    from skybutler.astro import Image
    from skybutler.butler import DirectButler
    from skybutler.server.web import _thumbnail
    from skybutler.testing.sample import populate_sample

    repo = Butler.create(root / "thumbs")
    with DirectButler(repo, writeable=True) as butler:
        populate_sample(butler, n_visits=1, n_detectors=1)
        butler.register_dataset_type("calexp", ["instrument", "visit", "detector"], "Image", format="fits")
        pixels = np.random.default_rng(1).normal(1000, 30, size=(side, side)).astype("f4")
        ref = butler.put(Image(pixels), "calexp", instrument="Cam", visit=0, detector=0, run="r")
        token = butler.registry.tokens.create("bench", ["read:*"])[0]
        small = butler.put(Image(pixels[:64, :64].copy()), "calexp", instrument="Cam", visit=0, detector=0, run="w")
    client = _client(repo, token)
    start = time.perf_counter()
    client.get(f"/web/dataset/{small.id.hex}/preview.png")  # the first preview of a process imports astropy's parts
    out: dict[str, Any] = {"side": side, "file_bytes": (side * side * 4),
                           "first_preview_of_process_ms": round((time.perf_counter() - start) * 1000, 1)}  # fmt: skip
    for size in _thumbnail.SIZES:
        url = f"/web/dataset/{ref.id.hex}/preview.png?size={size}"
        start, cpu = time.perf_counter(), time.process_time()
        first = client.get(url)
        first_ms, first_cpu = (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000
        if first.headers.get("x-preview-cache") != "miss":
            raise RuntimeError(f"the first preview was not made: {first.status_code} {first.text[:300]}")
        hits = []
        for _ in range(repeats):
            start = time.perf_counter()
            answer = client.get(url)
            hits.append((time.perf_counter() - start) * 1000)
            if answer.headers.get("x-preview-cache") != "hit":
                raise RuntimeError("a repeated preview was not served from the cache")
        out[str(size)] = {
            "first_ms": round(first_ms, 1), "first_cpu_ms": round(first_cpu, 1),
            "cached_ms_median": round(statistics.median(hits), 2), "png_bytes": len(first.content),
        }  # fmt: skip
    return out


def table(report: dict[str, Any]) -> str:
    lines = [f"load average: {report['load']}"]
    for part in ("w1", "scale"):
        if part not in report:
            continue
        info = report[part]
        lines.append(f"\n{part} ({info.get('n') or info.get('size')} datasets)")
        lines.append(f"{'page':<20}{'server ms':>11}{'p90':>9}{'cpu ms':>9}{'request ms':>12}  ≤ {TARGET_MS:.0f} ms")
        for name, m in info["pages"].items():
            ok = "yes" if m["server_ms_p90"] <= TARGET_MS else "NO"
            lines.append(f"{name:<20}{m['server_ms_median']:>11.1f}{m['server_ms_p90']:>9.1f}"
                         f"{m['cpu_ms_median']:>9.1f}{m['request_ms_median']:>12.1f}  {ok}")  # fmt: skip
    if "thumbnail" in report:
        t = report["thumbnail"]
        for size in ("256", "1024"):
            m = t[size]
            lines.append(f"\npreview {size} px of a {t['side']}² FITS: first {m['first_ms']} ms "
                         f"(cpu {m['first_cpu_ms']} ms), cached {m['cached_ms_median']} ms")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="server time of the web pages")
    parser.add_argument("--w1-n", type=int, default=2000, help="W1's N (0: skip)")
    parser.add_argument("--size", type=int, default=0, help="datasets of the large repository (0: skip)")
    parser.add_argument("--image-side", type=int, default=4096, help="side of the previewed FITS image (0: skip)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--root", type=Path, default=None, help="keep (and reuse) the repositories here")
    parser.add_argument("--json", action="store_true", help="print only the JSON report")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="skybutler-web-") as tmp:
        root = args.root or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        report: dict[str, Any] = {"load": " ".join(f"{x:.2f}" for x in os.getloadavg())}
        if args.w1_n:
            w1_root = root / f"w1-{args.w1_n}"
            if w1_root.exists():
                import shutil

                shutil.rmtree(w1_root)
            report["w1"] = part_w1(w1_root, args.w1_n, args.repeats)
        if args.size:
            report["scale"] = part_scale(root, args.size, args.repeats)
        if args.image_side:
            thumbs = root / "thumbs"
            if thumbs.exists():
                import shutil

                shutil.rmtree(thumbs)
            report["thumbnail"] = part_thumbnail(root, args.image_side, args.repeats)
        report["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if not args.json:
        print(table(report))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
