"""schemathesis against the live server's OpenAPI document: no 500 and every answer as its schema says.

Bounded for CI (``SKYBUTLER_FUZZ_EXAMPLES`` examples per operation, 8 by default; the whole run stays well
under three minutes).  Cases are sent with the admin token so they reach the endpoints' logic.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from skybutler.testing.server import ServedRepo, served_repo

EXAMPLES = int(os.environ.get("SKYBUTLER_FUZZ_EXAMPLES", "8"))


@pytest.fixture(scope="module")
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedRepo]:
    with served_repo(request, tmp_path_factory.mktemp("fuzz"), "sqlite-file") as served, served.remote(run="r") as b:
        b.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        b.put({"a": 1}, "meta", instrument="Cam", visit=1, detector=1)
        yield served


@pytest.fixture(scope="module")
def api_schema(live: ServedRepo) -> Any:
    return schemathesis.openapi.from_url(f"{live.url}/api/v1/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_error_and_answers_match_the_schema(case: Any, live: ServedRepo) -> None:
    case.call_and_validate(
        base_url=live.url,
        headers={"Authorization": f"Bearer {live.admin_token}"},
        checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
    )


def test_the_openapi_document_lists_every_endpoint(api_schema: Any, live: ServedRepo) -> None:
    import httpx

    document = httpx.get(f"{live.url}/api/v1/openapi.json").json()
    paths = set(document["paths"])
    for expected in ("/api/v1/", "/api/v1/datasets/find", "/api/v1/datasets/prepare", "/api/v1/datasets/commit",
                     "/api/v1/query/datasets", "/api/v1/collections/certify", "/api/v1/files/{key}"):  # fmt: skip
        assert expected in paths
