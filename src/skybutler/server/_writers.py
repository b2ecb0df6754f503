"""Who writes, and from what: a remote put's writer (the client's process) and its inputs, checked and recorded.

Shared by the put endpoints (`_uploads`) and the run endpoints (`_provenance_api`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from skybutler.errors import DataIdError, DatasetNotFoundError

if TYPE_CHECKING:
    from skybutler.butler import DirectButler
    from skybutler.registry import CollectionRecord, Environment
    from skybutler.server._auth import Caller
    from skybutler.wire import OriginModel

__all__ = ["checked_inputs", "record_origin"]


def _environment(origin: OriginModel) -> Environment:
    """The writer's environment, its digest made here from its content (a digest is what makes two the same)."""
    from skybutler.butler import make_environment

    env = origin.environment
    try:
        packages = {str(k): str(v) for k, v in dict(env["packages"]).items()}
        return make_environment(packages, str(env["python"]), str(env["platform"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataIdError(f"Malformed writer environment ({exc!r}); send python, platform, packages.") from None


_INFO_KEYS = ("host", "user_name", "command", "cwd", "started")


def record_origin(butler: DirectButler, run: CollectionRecord, origin: OriginModel | None, **extra: Any) -> None:
    """Record the client's process and environment as ``run``'s writer (in the caller's transaction, if any).

    ``extra`` goes with it to `Registry.record_provenance` (``edges`` of a put's inputs).
    """
    info = None
    environments = []
    if origin is not None:
        missing = [k for k in _INFO_KEYS if k not in origin.info]
        if missing:
            raise DataIdError(f"The writer's process info lacks {missing}; send host, user_name, command, cwd, started")
        info = {k: origin.info[k] for k in _INFO_KEYS} | {"config": origin.info.get("config")}
        environments = [_environment(origin)]
    butler.registry.record_provenance(run, info=info, environments=environments, **extra)


def checked_inputs(
    butler: DirectButler, caller: Caller, inputs: list[list[str]] | None, count: int
) -> list[list[uuid.UUID]]:
    """The input IDs of each of ``count`` new datasets, each input registered and in a run the caller may read.

    Raises
    ------
    DataIdError
        Not one list per dataset, or an ID that is not a UUID.
    DatasetNotFoundError
        An input is not registered (nothing is written).
    """
    if inputs is None:
        return [[] for _ in range(count)]
    if len(inputs) != count:
        raise DataIdError(f"{len(inputs)} lists of inputs for {count} datasets: send one list per dataset.")
    try:
        parsed = [list(dict.fromkeys(uuid.UUID(i) for i in row)) for row in inputs]
    except ValueError:
        raise DataIdError(f"An input of {inputs!r} is not a dataset ID (a UUID).") from None
    runs = set()
    for dataset_id in {i for row in parsed for i in row}:
        ref = butler.get_dataset(dataset_id)
        if ref is None:
            raise DatasetNotFoundError(f"Input {dataset_id} is not a registered dataset; nothing was stored.")
        runs.add(ref.run)
    caller.require("read", sorted(runs))
    return parsed
