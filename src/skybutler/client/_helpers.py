"""Small conversions of the remote butler: user arguments to wire values, and the error of a lost put."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from skybutler.dimensions import DataCoordinate, to_tai_ns
from skybutler.errors import StorageError

if TYPE_CHECKING:
    from skybutler.types import CollectionsLike, DataIdLike, TimeLike

__all__ = ["data_id_json", "is_server", "lost_put", "names", "tai_ns"]


def names(value: CollectionsLike | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else [str(v) for v in value]


def data_id_json(data_id: DataIdLike | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A data ID as plain JSON values (the server normalizes it as a local butler does)."""
    out: dict[str, Any] = {}
    if isinstance(data_id, DataCoordinate):
        out.update(data_id.required)
    elif data_id is not None:
        out.update(dict(data_id))
    out.update(kwargs)
    return out


def lost_put(exc: StorageError, name: str, ids: list[str]) -> StorageError:
    """The error of a commit the server never answered: whether the put happened, as far as can be known."""
    import httpx

    what = f"{len(ids)} dataset(s) of {name} (e.g. {ids[0]})" if ids else name
    if isinstance(exc.__cause__, httpx.ConnectError):
        return StorageError(
            f"The put of {what} did not happen: the server could not be reached to register them ({exc}). "
            "Nothing was registered; the uploaded files are removed by reconcile. Put them again."
        )
    if exc.__cause__ is None:  # the server answered with an error: it says what happened
        return exc
    return StorageError(
        f"The server stopped answering while registering {what} ({exc}): the put may or may not have "
        "happened (never half: either every dataset with its file, or none). Check with exists(ref) once the "
        "server answers again."
    )


def tai_ns(value: TimeLike | None) -> int | None:
    return None if value is None else to_tai_ns(value)


def is_server(url: str, *, timeout: float = 5.0) -> bool:
    """Whether ``url`` is a skybutler server: ``GET <url>/api/v1/`` answers JSON naming ``"server": "skybutler"``.

    Anything else -- an error status, another body, no answer -- is not: the URL then opens as a repository
    served as plain files (`skybutler.butler.Butler`'s rule).
    """
    import httpx

    try:
        answer = httpx.get(f"{url.rstrip('/')}/api/v1/", timeout=timeout, follow_redirects=True)
        return answer.status_code == 200 and answer.json().get("server") == "skybutler"
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
