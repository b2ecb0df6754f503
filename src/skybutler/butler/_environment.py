"""The software environment of this process: a cheap fingerprint, and the full list only when it is new.

Reading every installed distribution's metadata (`importlib.metadata`) takes a few hundred milliseconds with
a few hundred distributions.  A run records its environment on its first write, so that cost is paid only
for an installation never seen before: the fingerprint hashes the interpreter and, for every folder on
``sys.path``, its path and modification time (installing, upgrading or removing a distribution adds or
removes a ``*.dist-info`` folder there, which changes the folder's time).  A few ``stat`` calls: microseconds.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import re
import shlex
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skybutler.registry._run_records import Environment

if TYPE_CHECKING:
    from skybutler.registry import Registry

__all__ = ["current_environment", "environment_id", "fingerprint", "make_environment", "process_info", "writer_origin"]

_BY_FINGERPRINT: dict[str, Environment] = {}


def fingerprint() -> str:
    """A hash of the interpreter and of each ``sys.path`` folder's path and modification time."""
    parts = [sys.executable, sys.version]
    for entry in sys.path:
        try:
            parts.append(f"{entry}\0{Path(entry or '.').stat().st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}\0-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def current_environment(fp: str | None = None) -> Environment:
    """Every installed distribution and its version, with the Python version and platform (cached per fingerprint)."""
    fp = fp or fingerprint()
    env = _BY_FINGERPRINT.get(fp)
    if env is None:
        env = make_environment(installed(), sys.version.split()[0], platform.platform())
        _BY_FINGERPRINT[fp] = env
    return env


def installed() -> dict[str, str]:
    """Every installed distribution → its version, names normalized (PEP 503: ``lsst-daf-butler``).

    Read from the ``<name>-<version>.dist-info`` folder names on ``sys.path`` (the first one found wins, as
    for imports): parsing every distribution's metadata file, as `importlib.metadata` does, costs a hundred
    times more.  Legacy ``*.egg-info`` entries, whose names may lack the version, are read the slow way.
    """
    packages: dict[str, str] = {}
    for entry in sys.path:
        try:
            listing = os.scandir(entry or ".")
        except OSError:
            continue
        with listing:
            for item in listing:
                name = version = None
                if item.name.endswith(".dist-info"):
                    name, _, version = item.name[: -len(".dist-info")].partition("-")
                elif item.name.endswith(".egg-info"):
                    from importlib.metadata import PathDistribution

                    try:
                        dist = PathDistribution(Path(item.path))
                        name, version = dist.metadata["Name"], dist.version
                    except (OSError, ValueError, KeyError):
                        continue
                if name and version:
                    packages.setdefault(re.sub(r"[-_.]+", "-", name).lower(), version)
    return packages


def make_environment(packages: dict[str, str], python: str, platform_name: str) -> Environment:
    """An `Environment` with its content digest (what makes two recorded environments the same one)."""
    ordered = dict(sorted(packages.items(), key=lambda kv: kv[0].lower()))
    text = json.dumps({"python": python, "platform": platform_name, "packages": ordered}, sort_keys=True)
    return Environment(hashlib.sha256(text.encode()).hexdigest(), python, platform_name, ordered)


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


def process_info(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Host, user, command line, working folder and start time of this process, as a run record takes them."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in a container without /etc/passwd entry
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return {
        "host": socket.gethostname(),
        "user_name": user,
        "command": shlex.join([sys.executable, *sys.argv]),
        "cwd": str(Path.cwd()),
        "started": time.time_ns(),
        "config": config,
    }


def writer_origin(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """This process as a run's writer, for a repository written from afar (a remote butler sends it with its
    first write into a run): ``{"info": process_info(config), "environment": current_environment() as JSON}``."""
    return {"info": process_info(config), "environment": current_environment().to_json()}
