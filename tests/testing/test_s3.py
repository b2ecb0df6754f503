"""The loopback S3 endpoint keeps S3's guarantee that a conditional PUT is atomic (see `skybutler.testing.s3`)."""

from __future__ import annotations

import threading

import pytest

from skybutler.testing.s3 import new_bucket

pytestmark = pytest.mark.s3


def test_racing_conditional_puts_of_one_new_key_let_exactly_one_writer_in(s3_endpoint: str) -> None:
    """Without the server-side lock moto told two racing ``If-None-Match: *`` writers 200 (seen in CI)."""
    import boto3
    from botocore.exceptions import ClientError

    bucket = new_bucket(s3_endpoint)
    writers, keys = 6, 40
    outcomes: dict[str, list[str]] = {f"k{k}": [] for k in range(keys)}
    barrier = threading.Barrier(writers)
    lock = threading.Lock()

    def write(who: int) -> None:
        client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
        barrier.wait()
        for key in outcomes:
            try:
                client.put_object(Bucket=bucket, Key=key, Body=f"{who}".encode(), IfNoneMatch="*")
                result = f"won:{who}"
            except ClientError as exc:
                result = exc.response["Error"]["Code"]
            with lock:
                outcomes[key].append(result)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    for key, results in outcomes.items():
        winners = [r for r in results if r.startswith("won:")]
        assert len(results) == writers
        assert len(winners) == 1, (key, results)
        assert set(results) - set(winners) <= {"PreconditionFailed", "ConditionalRequestConflict"}
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        assert winners == [f"won:{body}"]  # the stored bytes are the one winner's
