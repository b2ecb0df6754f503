"""The software environment of this process, as the registry stores it (the reading is in `skybutler._software`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skybutler._software import environment_data, environment_digest, fingerprint, installed, process_info
from skybutler.registry._run_records import Environment

if TYPE_CHECKING:
    from skybutler.registry import Registry

__all__ = [
    "current_environment",
    "environment_id",
    "fingerprint",
    "installed",
    "make_environment",
    "process_info",
    "writer_origin",
]


def current_environment(fp: str | None = None) -> Environment:
    """Every installed distribution and its version, with the Python version and platform (cached per fingerprint)."""
    data = environment_data(fp)
    return Environment(data["digest"], data["python"], data["platform"], data["packages"])


def make_environment(packages: dict[str, str], python: str, platform_name: str) -> Environment:
    """An `Environment` with its content digest (what makes two recorded environments the same one)."""
    digest, ordered = environment_digest(packages, python, platform_name)
    return Environment(digest, python, platform_name, ordered)


def environment_id(registry: Registry) -> int:
    """The registry's id for this process's environment, stored first if the registry has not seen it.

    Known to this process: no statement.  Known to the registry (its fingerprint recorded by any process):
    one indexed read.  New: the distributions are read and stored once.
    """
    fp = fingerprint()
    known = registry.runs.known_fingerprints
    env_id = known.get(fp)
    if env_id is None:
        env_id = registry.runs.env_by_fingerprint(fp)
        if env_id is None:
            env_id = registry.runs.store_environment(current_environment(fp), fp)
        known[fp] = env_id
    return env_id


def writer_origin(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """This process as a run's writer, for a repository written from afar (a remote butler sends it with its
    first write into a run): ``{"info": process_info(config), "environment": current_environment() as JSON}``."""
    return {"info": process_info(config), "environment": current_environment().to_json()}
