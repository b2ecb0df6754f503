"""Name → implementation registries, filled from built-ins and ``skybutler.<kind>`` entry points."""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Mapping
from typing import Any, Generic, TypeVar, cast

from skybutler.errors import ConfigError, MissingDependencyError, PluginNotFoundError

__all__ = ["PluginRegistry", "SkyButlerWarning", "install_hint", "require"]

T = TypeVar("T")

#: Top-level third-party module → the extra that installs it, for the install hint.  astropy, h5py and
#: filelock are base dependencies (issue 19 item 11): missing, the hint names the package itself.
_EXTRAS = {
    "pyarrow": "parquet",
    "pandas": "parquet",
    "boto3": "s3",
    "obstore": "s3",
    "httpx": "http",
    "fsspec": "fsspec",
}


def install_hint(module: str) -> str:
    """What to run to get the top-level ``module``: its extra where one installs it, else the package."""
    extra = _EXTRAS.get(module)
    return f"pip install 'skybutler[{extra}]'" if extra else f"pip install {module}"


def require(module: str, needed_for: str) -> Any:
    """Import ``module`` for ``needed_for`` (a phrase: "raw ingest"); missing, a `MissingDependencyError` that
    says what to install, never a bare `ModuleNotFoundError`."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or module).split(".")[0]
        raise MissingDependencyError(
            f"{needed_for[0].upper()}{needed_for[1:]} needs the package {missing!r}, which is not installed; "
            f"run: {install_hint(missing)}"
        ) from exc


def _maybe_declared(group: str) -> bool:
    """Whether any installed distribution may declare entry points of ``group`` (False only when none can).

    Importing `importlib.metadata` and parsing every distribution costs about 30 ms, a fifth of the CLI's
    start-up budget, and most environments declare no skybutler plug-in at all.  This reads only the
    ``entry_points.txt`` of the ``.dist-info``/``.egg-info`` folders on `sys.path`; anything it cannot rule out
    (a zip on the path, an import hook that finds distributions elsewhere) answers True, so the full scan runs.
    """
    import sys
    from importlib.machinery import PathFinder
    from pathlib import Path

    if any(hasattr(f, "find_distributions") and f is not PathFinder for f in sys.meta_path):
        return True
    needle = f"[{group}]"
    for entry in sys.path:
        folder = Path(entry or ".")
        try:
            infos = [p for p in folder.iterdir() if p.name.endswith((".dist-info", ".egg-info"))]
        except NotADirectoryError:
            return True  # a zip archive: let importlib.metadata look inside
        except OSError:
            continue
        for info in infos:
            try:
                if needle in (info / "entry_points.txt").read_text(encoding="utf-8"):
                    return True
            except OSError:
                continue
    return False


class SkyButlerWarning(UserWarning):
    """A problem skybutler worked around, such as a broken third-party plug-in."""


class PluginRegistry(Generic[T]):
    """Look up implementations of one kind by short name.

    The values are classes (formatters, transports) or objects (storage classes, universes).
    Built-ins are ``"module:Class"`` strings imported on first use, so listing them costs nothing at start-up.
    Third parties add entry points to the group ``skybutler.<kind>``; the entry points are scanned once, the
    first time a name is not found among the built-ins (``SKYBUTLER_DISABLE_PLUGINS=1`` skips the scan).
    """

    def __init__(self, kind: str, builtins: Mapping[str, str]) -> None:
        self.kind = kind
        self._group = f"skybutler.{kind}"
        self._specs: dict[str, str] = dict(builtins)
        self._loaded: dict[str, T] = {}
        self._scanned = False

    def register(self, name: str, target: T | str, *, replace: bool = False) -> None:
        """Add an implementation under ``name``; refuse to shadow an existing name unless ``replace``."""
        if not replace and (name in self._specs or name in self._loaded):
            raise ConfigError(f"A {self.kind} plug-in named {name!r} already exists; pass replace=True to override it.")
        self._loaded.pop(name, None)
        if isinstance(target, str):
            self._specs[name] = target
        else:
            self._specs.pop(name, None)
            self._loaded[name] = target

    def names(self) -> list[str]:
        """Return every known name, built-in and installed, sorted."""
        self._scan()
        return sorted(set(self._specs) | set(self._loaded))

    def get(self, name_or_value: str | T) -> T:
        """Return the implementation named ``name_or_value``; a non-string is returned as it is.

        Raises
        ------
        PluginNotFoundError
            No built-in or installed plug-in has this name; the message lists the known names.
        MissingDependencyError
            The plug-in exists but an optional package it imports is missing.
        """
        if not isinstance(name_or_value, str):
            return name_or_value
        name = name_or_value
        found = self._loaded.get(name)
        if found is not None:
            return found
        if name not in self._specs:
            self._scan()
        spec = self._specs.get(name)
        if spec is None:
            raise PluginNotFoundError(f"No {self.kind} plug-in named {name!r}; known names: {', '.join(self.names())}.")
        cls = self._import(name, spec)
        self._loaded[name] = cls
        return cls

    def _import(self, name: str, spec: str) -> T:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").split(".")[0]
            hint = install_hint(missing)
            raise MissingDependencyError(
                f"The {self.kind} plug-in {name!r} needs the package {missing!r}, which is not installed; run: {hint}"
            ) from exc
        try:
            value = getattr(module, attr) if attr else module
        except AttributeError:
            raise PluginNotFoundError(
                f"The {self.kind} plug-in {name!r} points at {spec!r}, but {module_name} has no {attr!r}."
            ) from None
        return cast("T", value)

    def _scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        if os.environ.get("SKYBUTLER_DISABLE_PLUGINS") == "1" or not _maybe_declared(self._group):
            return
        from importlib.metadata import entry_points

        for ep in entry_points(group=self._group):
            if ep.name in self._specs or ep.name in self._loaded:
                continue
            if ":" not in ep.value and "." not in ep.value:
                warnings.warn(
                    f"Ignoring {self._group} entry point {ep.name!r}: {ep.value!r} is not 'module:attr'.",
                    SkyButlerWarning,
                    stacklevel=3,
                )
                continue
            self._specs[ep.name] = ep.value
