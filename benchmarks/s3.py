"""S3 datastore speed on a loopback S3 endpoint (moto's server in its own process): W1-style puts and gets,
bulk uploads, the bytes a cut-out transfers, and boto3 against obstore for raw object I/O.

Run: ``python benchmarks/s3.py [--n 1000]``.  Prints a Markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from skybutler import Butler
from skybutler.astro import Image
from skybutler.testing.sample import populate_sample
from skybutler.transports._s3 import S3Transport

DIMS = ["instrument", "visit", "detector"]
META = {f"key{i}": i * 1.5 for i in range(10)} | {"name": "w1", "flag": True}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_process() -> Iterator[str]:
    """moto's S3 server as a separate process on a free loopback port."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait()


@contextmanager
def delaying_proxy(upstream: str, latency_ms: float) -> Iterator[str]:
    """A TCP proxy adding ``latency_ms`` of one-way delay in each direction (a network between us and S3).

    Each chunk is forwarded ``latency_ms`` after it arrived, in order, so the delay is propagation, not a
    bandwidth limit.  Runs an asyncio loop in a thread (it only sleeps and copies).
    """
    import asyncio
    import threading

    host, port = upstream.removeprefix("http://").split(":")
    delay = latency_ms / 1000
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    listen_port: list[int] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    writer.close()
                    return
                await asyncio.sleep(max(0.0, due - loop.time()))
                writer.write(data)
                await writer.drain()

        sender = loop.create_task(send())
        while True:
            data = await reader.read(1 << 16)
            await queue.put((loop.time() + delay, data))
            if not data:
                break
        await sender

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w), return_exceptions=True)

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        listen_port.append(server.sockets[0].getsockname()[1])
        ready.set()
        async with server:
            await server.serve_forever()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    ready.wait()
    yield f"http://127.0.0.1:{listen_port[0]}"  # the daemon thread ends with the process


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def new_bucket(endpoint: str) -> str:
    import boto3

    name = f"bench-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


def butler_figures(endpoint: str, n: int, tmp: Path) -> list[tuple[str, str]]:
    root = Butler.create(
        tmp / "repo",
        datastore=f"s3://{new_bucket(endpoint)}/repo",
        config={"datastore": {"transport": {"endpoint_url": endpoint}}},
    )
    rows: list[tuple[str, str]] = []
    with Butler(root, run="run1") as butler:
        populate_sample(butler, n_visits=max(n // 10, 1) * 3)
        for name, sc in (("meta", "StructuredDataDict"), ("arr", "NumpyArray"), ("image", "Image")):
            butler.register_dataset_type(name, DIMS, sc)
        ids = [{"instrument": "Cam", "visit": i // 10, "detector": i % 10} for i in range(n)]
        t = timed(lambda: [butler.put(META, "meta", d) for d in ids[:200]])
        rows.append(("put W1 dict, one call each", f"{t / 200 * 1e3:.1f} ms"))
        t = timed(lambda: [butler.get("meta", d) for d in ids[:200]])
        rows.append(("get W1 dict, one call each", f"{t / 200 * 1e3:.1f} ms"))
        array = np.random.default_rng(0).normal(size=12_800)
        t = timed(lambda: [butler.put(array, "arr", d) for d in ids[:100]])
        rows.append(("put 100 kB array", f"{t / 100 * 1e3:.1f} ms"))
        t = timed(lambda: [butler.get("arr", d) for d in ids[:100]])
        rows.append(("get 100 kB array", f"{t / 100 * 1e3:.1f} ms"))

        bulk = [{"instrument": "Cam", "visit": n // 10 + i // 10, "detector": i % 10} for i in range(n)]
        one_by_one = timed(lambda: [butler.put(META, "meta", d, run="one") for d in bulk])
        many = timed(lambda: butler.put_many([(META, d) for d in bulk], "meta", run="many"))
        rows.append(
            (
                f"{n} small objects: put one by one vs put_many",
                f"{one_by_one:.2f} s vs {many:.2f} s ({one_by_one / many:.1f}x)",
            )
        )

        image = Image(np.random.default_rng(1).normal(size=(4096, 4096)).astype("f4"), {"EXPTIME": 1.0})
        ref = butler.put(image, "image", ids[0])
        transport = butler.datastore.files().transport
        assert isinstance(transport, S3Transport)
        size = transport.size(butler.get_uri(ref)[len(transport.root) :])
        before = transport.bytes_read
        t = timed(lambda: butler.get("image", ids[0], parameters={"bbox": (slice(2000, 2100), slice(1000, 1100))}))
        moved = transport.bytes_read - before
        rows.append(
            (
                "100x100 cut-out of a 4k x 4k float32 FITS image",
                f"{moved / 1e6:.2f} MB of {size / 1e6:.1f} MB ({moved / size:.1%}), {t * 1e3:.0f} ms",
            )
        )
        t = timed(lambda: butler.get("image", ids[0]))
        rows.append(("full get of that image", f"{t * 1e3:.0f} ms"))
    return rows


def bulk_figures(endpoint: str, n: int, tmp: Path) -> list[tuple[str, str]]:
    """Only the one-by-one against put_many comparison."""
    root = Butler.create(
        tmp / "bulk",
        datastore=f"s3://{new_bucket(endpoint)}/repo",
        config={"datastore": {"transport": {"endpoint_url": endpoint}}},
    )
    with Butler(root, run="run1") as butler:
        populate_sample(butler, n_visits=max(n // 10, 1))
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        ids = [{"instrument": "Cam", "visit": i // 10, "detector": i % 10} for i in range(n)]
        one_by_one = timed(lambda: [butler.put(META, "meta", d, run="one") for d in ids])
        many = timed(lambda: butler.put_many([(META, d) for d in ids], "meta", run="many"))
    return [
        (
            f"{n} small objects: put one by one vs put_many",
            f"{one_by_one:.2f} s vs {many:.2f} s ({one_by_one / many:.1f}x)",
        )
    ]


def client_figures(endpoint: str, n: int) -> list[tuple[str, str]]:
    """Raw object I/O: small PUTs then GETs, boto3 against obstore (our S3Transport), same endpoint."""
    rows = []
    data = b"x" * 400
    bucket = new_bucket(endpoint)
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    put = timed(lambda: [s3.put_object(Bucket=bucket, Key=f"k{i}", Body=data) for i in range(n)])
    get = timed(lambda: [s3.get_object(Bucket=bucket, Key=f"k{i}")["Body"].read() for i in range(n)])
    rows.append(("boto3: small PUT / GET", f"{put / n * 1e3:.2f} ms / {get / n * 1e3:.2f} ms"))
    transport = S3Transport(f"s3://{bucket}/obstore", endpoint_url=endpoint)
    put = timed(lambda: [transport.put(f"k{i}", data) for i in range(n)])
    get = timed(lambda: [transport.get(f"k{i}") for i in range(n)])
    rows.append(("obstore (S3Transport): small PUT / GET", f"{put / n * 1e3:.2f} ms / {get / n * 1e3:.2f} ms"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="objects in the bulk comparison")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="one-way delay added by a local proxy")
    parser.add_argument("--bulk-only", action="store_true", help="only the put one-by-one / put_many comparison")
    args = parser.parse_args()
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with moto_process() as direct, tempfile.TemporaryDirectory() as tmp:
        proxy = delaying_proxy(direct, args.latency_ms) if args.latency_ms else nullcontext(direct)
        with proxy as endpoint:
            if args.bulk_only:
                rows = bulk_figures(endpoint, args.n, Path(tmp))
            else:
                rows = butler_figures(endpoint, args.n, Path(tmp)) + client_figures(endpoint, 200)
    where = f" + {args.latency_ms:g} ms each way" if args.latency_ms else ""
    print(f"| S3: moto server on loopback{where}, n = {args.n} | measured |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
