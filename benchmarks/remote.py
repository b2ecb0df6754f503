"""The remote butler on loopback (issue 20's targets), against a real ``skybutler serve`` process.

Parts (``--parts``):

``latency``
    SQLite + files: ``--n`` remote puts and gets of W1's small ``meta`` dict (targets: get <= 3 ms, put <= 6 ms),
    median and p99 per call, next to the same calls on a local butler.
``cutout``
    a 4k x 4k float32 FITS image put once; a remote get of a 100 x 100 cut-out must read <= 5 % of the file's
    bytes (counted at the client's HTTP transport).
``query``
    ``--query-refs`` datasets registered (without files) and found by one remote ``query_datasets``; target:
    >= 50 000 refs/s streamed.
``export``
    ``--export-files`` files of ``--export-kib`` KiB exported to a ``.zip`` through the server, on SQLite + files
    and SQLite + S3 (moto): the client writing the archive from signed URLs against the server-side archive,
    interleaved; bytes received from the server and from elsewhere (S3), wall and CPU seconds of both sides.
``load``
    ``--clients`` concurrent remote butlers mixing get, put and queries for ``--duration`` seconds on
    PostgreSQL + S3 (moto on loopback): zero errors, zero lost writes (every put that returned is read back
    after), p50/p99 latency per operation, client and server CPU seconds.  The clients are threads of this
    process, or with ``--processes N`` spread over N client processes (spawned; ``N = --clients``: one each),
    so the client side is not bound by one interpreter's GIL.

The reference butler's remote server (``lsst.daf.butler.remote_butler.server``) is not compared: it needs its
gateway stack (Gafaelfawr authentication and a configuration service) that this machine does not run.

Run: ``python benchmarks/remote.py [--parts latency cutout query load] [--n 500] [--query-refs 100000]
[--clients 32] [--duration 60] [--processes 0] [--root DIR] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import meta_payload  # noqa: E402
from skybutler.butler import Butler  # noqa: E402
from skybutler.testing.sample import populate_sample  # noqa: E402

DIMS = ["instrument", "visit", "detector"]


# -- a server process ----------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServedUrl(str):
    """A served URL, with its server's process ID (for the server's CPU time)."""

    pid: int

    def cpu(self) -> float:
        """CPU seconds (user + system) the server process has used so far (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serving(root: str, env: dict[str, str] | None = None) -> Iterator[ServedUrl]:
    """``skybutler serve root`` as a process on a free loopback port; its URL (with the process ID)."""
    import httpx

    port = _free_port()
    full_env = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "skybutler.cli", "serve", root, "--port", str(port)],
        env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = ServedUrl(f"http://127.0.0.1:{port}")
    url.pid = proc.pid
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v1/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _repo(root: Path, *, registry: str | None = None, schema: str | None = None, config: Any = None,
          visits: int = 20, detectors: int = 10) -> tuple[str, str]:  # fmt: skip
    made = Butler.create(root, registry=registry, schema=schema, config=config)
    with Butler(made, writeable=True) as admin:
        populate_sample(admin, n_visits=visits, n_detectors=detectors)
        admin.register_dataset_type("meta", DIMS, "StructuredDataDict")
        token = admin.registry.tokens.create("bench", ["admin"])[0]
    return made, token


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {"min_ms": ordered[0] * 1e3, "median_ms": statistics.median(ordered) * 1e3, "p99_ms": p99 * 1e3,
            "n": len(ordered)}  # fmt: skip


def _timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


@contextmanager
def _cpu(out: dict[str, Any], n: int, url: ServedUrl | None = None) -> Iterator[None]:
    """CPU milliseconds per call of the block's ``n`` calls: this process's and the server's (load cannot move
    these as it moves wall times)."""
    client, server = time.process_time(), url.cpu() if url else 0.0
    yield
    out["client_cpu_ms"] = (time.process_time() - client) / n * 1e3
    if url is not None:
        out["server_cpu_ms"] = (url.cpu() - server) / n * 1e3


# -- parts -------------------------------------------------------------------------------------------------------
def latency(work: Path, n: int) -> dict[str, Any]:
    """Remote (and local) put and get of W1's small dict, per call."""
    from skybutler.client import RemoteButler

    root, token = _repo(work / "latency", visits=max(1, n // 10 + 1))
    ids = [{"instrument": "Cam", "visit": i // 10, "detector": i % 10} for i in range(n)]
    out: dict[str, Any] = {}
    with serving(root) as url, RemoteButler(url, token=token, run="remote") as remote:
        remote.put(meta_payload(-1), "meta", instrument="Cam", visit=0, detector=0, run="warm")  # connections, caches
        remote.get("meta", instrument="Cam", visit=0, detector=0, collections="warm")
        cpu_put: dict[str, Any] = {}
        cpu_get: dict[str, Any] = {}
        with _cpu(cpu_put, n, url):
            puts = [_timed(lambda i=i, d=d: remote.put(meta_payload(i), "meta", d)) for i, d in enumerate(ids)]
        with _cpu(cpu_get, n, url):
            gets = [_timed(lambda d=d: remote.get("meta", d)) for d in ids]
        assert remote.get("meta", ids[-1]) == meta_payload(n - 1)
        out["remote put"] = _ms(puts) | cpu_put
        out["remote get"] = _ms(gets) | cpu_get
    with Butler(root, run="local") as local:
        puts = [_timed(lambda i=i, d=d: local.put(meta_payload(i), "meta", d)) for i, d in enumerate(ids)]
        gets = [_timed(lambda d=d: local.get("meta", d)) for d in ids]
        out["local put"] = _ms(puts)
        out["local get"] = _ms(gets)
    return out


class _Counting:
    """An httpx transport that counts the body bytes it receives."""

    def __init__(self) -> None:
        import httpx

        self.inner = httpx.HTTPTransport()
        self.received = 0

    def handle_request(self, request: Any) -> Any:
        response = self.inner.handle_request(request)
        response.read()
        self.received += len(response.content)
        return response

    def close(self) -> None:
        self.inner.close()


def cutout(work: Path, side: int = 4096) -> dict[str, Any]:
    """Bytes a 100 x 100 cut-out of a ``side`` x ``side`` FITS image fetches, against the file's size."""
    import httpx
    import numpy as np

    from skybutler.astro import Box, Image
    from skybutler.client import RemoteButler

    root, token = _repo(work / "cutout")
    with Butler(root, writeable=True) as admin:
        admin.register_dataset_type("image", DIMS, "Image")
    image = Image(np.random.default_rng(1).random((side, side), dtype=np.float32), {"EXPTIME": 30.0})
    x0 = y0 = side // 2
    with serving(root) as url:
        with RemoteButler(url, token=token, run="img") as writer:
            start = time.perf_counter()
            ref = writer.put(image, "image", instrument="Cam", visit=1, detector=1)
            put_s = time.perf_counter() - start
        counting = _Counting()
        client = httpx.Client(transport=counting, timeout=60)  # type: ignore[arg-type]
        with RemoteButler(url, token=token, collections="img", client=client) as reader:
            size = reader.find_dataset("image", instrument="Cam", visit=1, detector=1) and _size(root, ref)
            counting.received = 0
            start = time.perf_counter()
            cut = reader.get("image", instrument="Cam", visit=1, detector=1,
                             parameters={"bbox": Box(x0=x0, y0=y0, width=100, height=100)})  # fmt: skip
            get_s = time.perf_counter() - start
            assert cut.array.shape == (100, 100)
            np.testing.assert_array_equal(cut.array, image.array[y0 : y0 + 100, x0 : x0 + 100])
            received = counting.received
    return {"file_bytes": size, "cutout_bytes_received": received, "fraction_percent": 100 * received / size,
            "cutout_get_s": get_s, "image_put_s": put_s}  # fmt: skip


def _size(root: str, ref: Any) -> int:
    with Butler(root) as local:
        return int(local.registry.datasets.all_artifacts([ref.id])[ref.id][0].size)


def query(work: Path, refs: int) -> dict[str, Any]:
    """One remote query returning ``refs`` refs: refs per second, end to end (request to the last ref built)."""
    import uuid

    from skybutler.client import RemoteButler
    from skybutler.registry import NewDataset

    detectors = 10
    visits = (refs + detectors - 1) // detectors
    root, token = _repo(work / "query", visits=visits, detectors=detectors)
    with Butler(root, writeable=True) as admin:
        admin.collections.register("big", "RUN")
        stored = admin.registry.dataset_types.get("meta")
        run = admin.registry.collections.get("big")
        new = [NewDataset(uuid.uuid4(), ("Cam", d, v), None) for v in range(visits) for d in range(detectors)][:refs]
        admin.registry.datasets.insert(stored, run.id, new)
    out: dict[str, Any] = {"refs": refs}
    with serving(root) as url, RemoteButler(url, token=token, collections="big") as remote:
        remote.query_datasets("meta", where="visit < 2")  # warm
        times = []
        cpu: dict[str, Any] = {}
        with _cpu(cpu, 3, url):
            for _ in range(3):
                start = time.perf_counter()
                found = remote.query_datasets("meta")
                times.append(time.perf_counter() - start)
                assert len(found) == refs
        out["best_s"] = min(times)
        out["refs_per_s"] = refs / min(times)
        out["client_cpu_s"] = cpu["client_cpu_ms"] / 1e3
        out["server_cpu_s"] = cpu["server_cpu_ms"] / 1e3
    with Butler(root, collections="big") as local:
        start = time.perf_counter()
        assert len(list(local.query_datasets("meta"))) == refs
        out["local_s"] = time.perf_counter() - start
    return out


def export(work: Path, files: int, size_kib: int) -> dict[str, Any]:
    """A remote ``.zip`` export of ``files`` files of ``size_kib`` KiB, on SQLite + files and on SQLite + S3 (moto):
    the client writing the archive from signed URLs next to the server-side archive (``/transfer/export``, the
    fallback), interleaved three times each; bytes the server sent (API and files endpoint) and bytes read from
    elsewhere (S3), wall and CPU seconds of client and server."""
    from skybutler.testing.s3 import MotoServer, _set_dummy_credentials, new_bucket

    out: dict[str, Any] = {"n_files": files, "size_kib": size_kib}
    out["local_files"] = _export_on(work / "export-files", None, files, size_kib)
    _set_dummy_credentials()
    moto = MotoServer()
    endpoint = moto.start()
    try:
        config = {"datastore": {"root": f"s3://{new_bucket(endpoint)}/repo/", "transport": {"endpoint_url": endpoint}}}
        out["s3"] = _export_on(work / "export-s3", config, files, size_kib)
    finally:
        moto.stop()
    return out


def _export_on(root_dir: Path, config: Any, files: int, size_kib: int) -> dict[str, Any]:
    import numpy as np

    from skybutler.client import RemoteButler
    from skybutler.wire_transfer import ExportRequest

    root, token = _repo(root_dir, config=config, visits=files // 10 + 1)
    with Butler(root, writeable=True) as admin:
        admin.register_dataset_type("big", DIMS, "NumpyArray")
        block = np.zeros(size_kib * 128, dtype=np.int64)
        admin.put_many([(block + i, {"instrument": "Cam", "visit": i // 10, "detector": i % 10}) for i in range(files)],
                       "big", run="exp")  # fmt: skip
    out: dict[str, Any] = {}
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    with serving(root, env=env) as url, RemoteButler(url, token=token) as remote:
        received = {"server": 0, "elsewhere": 0}

        def count(response: Any) -> None:  # by Content-Length: reading here would hold a streamed body
            size = int(response.headers.get("content-length", 0))
            received["server" if str(response.url).startswith(url) else "elsewhere"] += size

        remote._session.client.event_hooks["response"].append(count)
        ways = {
            "urls": lambda n: remote.export(root_dir / f"urls{n}.zip", collections="exp"),
            "server_archive": lambda n: remote._session.raw(
                "POST", "/transfer/export", ExportRequest(name="x.zip", collections=["exp"]), what="export"
            ),
        }
        runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in ways}
        for n in range(3):
            for name, call in ways.items():
                received.update(server=0, elsewhere=0)
                wall, client, server = time.perf_counter(), time.process_time(), url.cpu()
                call(n)
                runs[name].append((time.perf_counter() - wall, time.process_time() - client, url.cpu() - server))
                out[f"{name} bytes_from_server"] = received["server"]
                out[f"{name} bytes_from_elsewhere"] = received["elsewhere"]
        for name, values in runs.items():
            out[f"{name} wall_s"] = statistics.median(v[0] for v in values)
            out[f"{name} client_cpu_s"] = statistics.median(v[1] for v in values)
            out[f"{name} server_cpu_s"] = statistics.median(v[2] for v in values)
    return out


def load(work: Path, clients: int, duration: float, processes: int = 0) -> dict[str, Any]:
    """``clients`` remote butlers mixing get, put and queries for ``duration`` s on PostgreSQL + S3 (moto);
    threads of this process, or (``processes`` > 0) spread over that many client processes."""
    from skybutler.testing.fixtures import POSTGRES_URL, fresh_schema, require_postgres
    from skybutler.testing.s3 import MotoServer, _set_dummy_credentials, new_bucket

    require_postgres()
    _set_dummy_credentials()
    moto = MotoServer()
    endpoint = moto.start()
    try:
        with fresh_schema(POSTGRES_URL) as schema:
            config = {
                "datastore": {"root": f"s3://{new_bucket(endpoint)}/repo/", "transport": {"endpoint_url": endpoint}}
            }
            root, token = _repo(work / "load", registry=POSTGRES_URL, schema=schema, config=config, visits=200)
            with serving(root, env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}) as url:
                return _drive(url, token, clients, duration, processes)
    finally:
        moto.stop()


_Lat = dict[str, list[float]]
_Written = list[tuple[Any, dict[str, Any]]]
_Out = tuple[_Lat, _Written, list[str]]


def _client(
    url: str, token: str, k: int, stop: float, lock: threading.Lock, out: tuple[_Lat, _Written, list[str]]
) -> None:
    """Client ``k``: puts (30 %), gets of its own puts (55 %) and queries (15 %) until ``stop`` (monotonic)."""
    from skybutler.client import RemoteButler

    lat, written, errors = out
    rng = random.Random(k)
    mine: _Written = []
    n = 0
    try:
        with RemoteButler(url, token=token, run=f"load/c{k}") as butler:
            while time.monotonic() < stop:
                choice = rng.random()
                start = time.perf_counter()
                if choice < 0.3 or not mine:
                    payload = {"client": k, "n": n}
                    ref = butler.put(payload, "meta", instrument="Cam", visit=n // 10, detector=n % 10)
                    mine.append((ref, payload))
                    n += 1
                    kind = "put"
                elif choice < 0.85:
                    ref, payload = rng.choice(mine)
                    if butler.get(ref) != payload:
                        raise AssertionError(f"client {k}: {ref} read back wrong")
                    kind = "get"
                else:
                    found = butler.query_datasets("meta", where="visit < 5")
                    if len(found) < min(n, 50):
                        raise AssertionError(f"client {k}: a query lost datasets ({len(found)} < {min(n, 50)})")
                    kind = "query"
                elapsed = time.perf_counter() - start
                with lock:
                    lat[kind].append(elapsed)
    except Exception as exc:
        with lock:
            errors.append(f"{type(exc).__name__}: {exc}")
    with lock:
        written.extend(mine)


def _run_clients(
    url: str, token: str, ks: list[int], duration: float, barrier: Any = None
) -> tuple[_Lat, _Written, list[str]]:
    """Clients ``ks`` as threads of this process (after ``barrier``, when given: every process starts together)."""
    out: _Out = ({"get": [], "put": [], "query": []}, [], [])
    lock = threading.Lock()
    if barrier is not None:
        barrier.wait()
    stop = time.monotonic() + duration
    threads = [threading.Thread(target=_client, args=(url, token, k, stop, lock, out)) for k in ks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _process(url: str, token: str, ks: list[int], duration: float, barrier: Any, results: Any) -> None:
    """A client process: its clients' latencies, writes and errors go back through ``results``."""
    # Imported before the start, as the parent has them for the threads' mode.
    import skybutler.client
    import skybutler.formatters._json  # noqa: F401

    try:
        results.put(_run_clients(url, token, ks, duration, barrier))
    except BaseException as exc:  # the parent must not wait forever for this process's answer
        results.put(({"get": [], "put": [], "query": []}, [], [f"process: {type(exc).__name__}: {exc}"]))
        raise


def _drive(url: ServedUrl, token: str, clients: int, duration: float, processes: int) -> dict[str, Any]:
    import multiprocessing
    import resource

    from skybutler.client import RemoteButler

    lat: _Lat = {"get": [], "put": [], "query": []}
    written: _Written = []
    errors: list[str] = []
    server_cpu = url.cpu()
    if processes <= 0:
        own = time.process_time()
        parts = [_run_clients(url, token, list(range(clients)), duration)]
        client_cpu = time.process_time() - own  # moto's S3 server runs in this process too: included
    else:
        # spawn, not fork: this process runs moto's threads; each child imports skybutler afresh
        ctx = multiprocessing.get_context("spawn")
        n = min(processes, clients)
        barrier, results = ctx.Barrier(n), ctx.Queue()
        groups = [list(range(clients))[i::n] for i in range(n)]
        procs = [ctx.Process(target=_process, args=(url, token, g, duration, barrier, results)) for g in groups]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        for proc in procs:
            proc.start()
        parts = [results.get(timeout=duration + 300) for _ in procs]
        for proc in procs:
            proc.join()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    server_cpu = url.cpu() - server_cpu
    for part_lat, part_written, part_errors in parts:
        for kind, values in part_lat.items():
            lat[kind].extend(values)
        written.extend(part_written)
        errors.extend(part_errors)
    lost = 0
    with RemoteButler(url, token=token) as checker:
        for ref, payload in written:
            try:
                if checker.get(ref) != payload:
                    lost += 1
            except Exception:
                lost += 1
    total = sum(len(v) for v in lat.values())
    return {
        "clients": clients, "processes": processes or "threads of one process", "duration_s": duration,
        "operations": total, "ops_per_s": total / duration, "errors": len(errors), "error_examples": errors[:3],
        "writes": len(written), "lost_writes": lost, "client_cpu_s": client_cpu, "server_cpu_s": server_cpu,
        **{f"{kind} p50_ms": statistics.median(v) * 1e3 for kind, v in lat.items() if v},
        **{f"{kind} p99_ms": sorted(v)[int(0.99 * (len(v) - 1))] * 1e3 for kind, v in lat.items() if v},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--parts", nargs="+", default=["latency", "cutout", "query", "load"])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--query-refs", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--export-files", type=int, default=200)
    parser.add_argument("--export-kib", type=int, default=256)
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="load: spread the clients over this many client processes (0: threads of this one)",
    )
    parser.add_argument("--image-side", type=int, default=4096, help="pixels per side of the cut-out's image")
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = args.root or Path(tempfile.mkdtemp(prefix="skybutler-remote-"))
    report: dict[str, Any] = {}
    for part in args.parts:
        if part == "latency":
            report[part] = latency(work, args.n)
        elif part == "cutout":
            report[part] = cutout(work, args.image_side)
        elif part == "query":
            report[part] = query(work, args.query_refs)
        elif part == "export":
            report[part] = export(work, args.export_files, args.export_kib)
        elif part == "load":
            report[part] = load(work, args.clients, args.duration, args.processes)
        else:
            parser.error(f"unknown part {part!r}")
        if not args.json:
            print(part, json.dumps(report[part], indent=1, default=str), flush=True)
    if args.json:
        print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
