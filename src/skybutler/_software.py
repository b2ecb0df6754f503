"""This process's software environment and origin, read cheaply: shared by run records and scale-out workers.

Reading every installed distribution's metadata (`importlib.metadata`) takes a few hundred milliseconds with
a few hundred distributions.  A run records its environment on its first write, and a scale-out worker with
its first task, so that cost is paid only for an installation never seen before: the fingerprint hashes the
interpreter and, for every folder on ``sys.path``, its path and modification time (installing, upgrading or
removing a distribution adds or removes a ``*.dist-info`` folder there, which changes the folder's time).
A few ``stat`` calls: microseconds.  Nothing of skybutler is imported here, so workers (which may not import
the registry) and the butler read the environment the same way and agree on its digest.
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
from typing import Any

__all__ = ["environment_data", "environment_digest", "fingerprint", "installed", "process_info"]

_BY_FINGERPRINT: dict[str, dict[str, Any]] = {}


def fingerprint() -> str:
    """A hash of the interpreter and of each ``sys.path`` folder's path and modification time."""
    parts = [sys.executable, sys.version]
    for entry in sys.path:
        try:
            parts.append(f"{entry}\0{Path(entry or '.').stat().st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}\0-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


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


def environment_digest(packages: dict[str, str], python: str, platform_name: str) -> tuple[str, dict[str, str]]:
    """The content digest of an environment (what makes two recorded ones the same), and its sorted packages."""
    ordered = dict(sorted(packages.items(), key=lambda kv: kv[0].lower()))
    text = json.dumps({"python": python, "platform": platform_name, "packages": ordered}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest(), ordered


def environment_data(fp: str | None = None) -> dict[str, Any]:
    """This process's environment as plain data (``digest``, ``python``, ``platform``, ``packages``), read once
    per installation fingerprint."""
    fp = fp or fingerprint()
    data = _BY_FINGERPRINT.get(fp)
    if data is None:
        python, platform_name = sys.version.split()[0], platform.platform()
        digest, packages = environment_digest(installed(), python, platform_name)
        data = _BY_FINGERPRINT[fp] = {"digest": digest, "python": python, "platform": platform_name,
                                      "packages": packages}  # fmt: skip
    return data


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
