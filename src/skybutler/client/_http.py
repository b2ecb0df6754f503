"""The client's HTTP session: one pooled httpx client, the token, timeouts, retries of reads, errors mapped back.

A server error answer carries our error ``code`` (`skybutler.wire.ErrorModel`): it becomes the same exception
class the local butler raises (`error_for_code`).  A server that does not answer is a `StorageError` that says
so; reads (finds, queries, lookups: everything that changes nothing) are retried with exponential backoff on a
connection failure or a 502/503/504, writes never (a put could otherwise be applied twice).
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any, TypeVar

from skybutler.errors import PermissionDeniedError, SkyButlerError, StorageError, error_for_code
from skybutler.plugins import require
from skybutler.wire import API_PREFIX

if TYPE_CHECKING:
    import httpx
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

__all__ = ["Session", "raise_for_answer"]

_RETRY_STATUS = frozenset({502, 503, 504})


def raise_for_answer(response: httpx.Response, what: str) -> None:
    """Raise the error a failed answer stands for (nothing for a success)."""
    if response.status_code < 400:
        return
    raw = response.read()
    try:
        body = json.loads(raw)
        code, message = body["code"], body["message"]
    except (ValueError, KeyError, TypeError):
        text = raw[:200].decode(errors="replace")
        if response.status_code in (401, 403):
            raise PermissionDeniedError(f"{what}: the server refused (HTTP {response.status_code}) {text}") from None
        raise StorageError(f"{what}: the server answered HTTP {response.status_code} {text}".rstrip()) from None
    cls = error_for_code(str(code))
    raise cls(str(message))


class Session:
    """Requests to one server's API, with its token; thread-safe (httpx's client is)."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        client: httpx.Client | None = None,
    ) -> None:
        httpx = require("httpx", "the remote butler")
        self.url = url.rstrip("/")
        self.api = self.url + API_PREFIX
        token = token if token is not None else os.environ.get("SKYBUTLER_TOKEN") or None
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        """Sent to the API only: signed URLs (ours, an object store's) must not see the token."""
        self.retries = retries
        self.client = client or httpx.Client(
            timeout=timeout, limits=httpx.Limits(max_connections=32, max_keepalive_connections=32)
        )
        self._errors = (httpx.TransportError,)

    def close(self) -> None:
        """Close the pooled connections."""
        self.client.close()

    def _send(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        url = path if "://" in path else f"{self.api}{path}"
        attempts = self.retries + 1 if idempotent else 1
        for attempt in range(attempts):
            try:
                response: httpx.Response = self.client.request(method, url, **kwargs)
            except self._errors as exc:
                if attempt + 1 < attempts:
                    time.sleep(0.05 * 2**attempt)
                    continue
                raise StorageError(
                    f"The skybutler server at {self.url} does not answer ({type(exc).__name__}: {exc}); "
                    "check that it runs and that the URL is right."
                ) from exc
            if response.status_code in _RETRY_STATUS and attempt + 1 < attempts:
                time.sleep(0.05 * 2**attempt)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def call(
        self,
        method: str,
        path: str,
        body: BaseModel | None = None,
        *,
        idempotent: bool = False,
        what: str = "",
        params: dict[str, Any] | None = None,
        json_body: Any = None,
    ) -> Any:
        """One JSON request; the decoded answer, or the error it stands for."""
        content = None
        headers = self._auth
        if body is not None:
            content = body.model_dump_json(exclude_defaults=False).encode()
            headers = {**self._auth, "Content-Type": "application/json"}
        response = self._send(
            method, path, idempotent=idempotent, content=content, headers=headers, params=params, json=json_body
        )
        raise_for_answer(response, what or f"{method} {path}")
        return response.json()

    def call_model(self, method: str, path: str, body: BaseModel, answer: type[M], *, idempotent: bool = False,
                   what: str = "") -> M:  # fmt: skip
        """One JSON request whose answer is ``answer``, validated straight from the bytes (no dict in between)."""
        content = body.__pydantic_serializer__.to_json(body)
        headers = {**self._auth, "Content-Type": "application/json"}
        response = self._send(method, path, idempotent=idempotent, content=content, headers=headers)
        raise_for_answer(response, what or f"{method} {path}")
        return answer.model_validate_json(response.content)

    def raw(self, method: str, path: str, body: BaseModel, *, what: str) -> httpx.Response:
        """One request whose answer is bytes (checked for errors, not decoded); a read, so retried."""
        headers = {**self._auth, "Content-Type": "application/json"}
        response = self._send(method, path, idempotent=True, content=body.model_dump_json().encode(), headers=headers)
        raise_for_answer(response, what)
        return response

    def stream_lines(self, path: str, body: BaseModel, *, what: str) -> list[bytes]:
        """The lines of a streamed (NDJSON) answer, read as they arrive."""
        content = body.model_dump_json().encode()
        url = f"{self.api}{path}"
        for attempt in range(self.retries + 1):
            try:
                with self.client.stream(
                    "POST", url, content=content, headers={**self._auth, "Content-Type": "application/json"}
                ) as response:
                    if response.status_code in _RETRY_STATUS and attempt < self.retries:
                        continue
                    raise_for_answer(response, what)
                    return response.read().splitlines()  # bytes as they came: no decoding to text and back
            except self._errors as exc:
                if attempt < self.retries:
                    time.sleep(0.05 * 2**attempt)
                    continue
                raise StorageError(f"The skybutler server at {self.url} does not answer: {exc}") from exc
            except SkyButlerError:
                raise
        raise StorageError(f"{what}: the server at {self.url} kept failing.")

    def upload(self, url: str, data: bytes, what: str) -> None:
        """One PUT of a file to a signed upload URL (ours, or an object store's)."""
        try:
            response = self.client.put(url, content=data)
        except self._errors as exc:
            raise StorageError(f"{what}: the upload failed ({exc}); the put did not happen.") from exc
        raise_for_answer(response, what)
