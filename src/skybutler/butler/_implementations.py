"""Which class answers ``Butler(root)``: the registry of butler implementations and the one rule that picks.

Built in are ``"direct"`` (`DirectButler`) and ``"remote"`` (`skybutler.client.RemoteButler`, issue 20), named
by dotted path so nothing is imported until used (this folder never imports the client).  Others join by an entry
point in the group ``skybutler.butler_implementations``, or at run time with ``butler_implementations.register``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skybutler.errors import ConfigError, PluginNotFoundError
from skybutler.plugins import PluginRegistry

if TYPE_CHECKING:
    from skybutler.butler._interface import Butler

__all__ = ["butler_implementations", "choose", "remote_implementation"]

#: Butler implementations by short name; ``"remote"`` is the one `Butler.from_server` uses.
butler_implementations: PluginRegistry[type[Butler]] = PluginRegistry(
    "butler_implementations",
    {"direct": "skybutler.butler._direct:DirectButler", "remote": "skybutler.client:RemoteButler"},
)


def choose(root: Any) -> type[Butler]:
    """The implementation for ``root``: the rule `Butler.__new__` documents.

    A root that is an ``http(s)://`` URL is offered, in name order, to every registered implementation other
    than ``"direct"`` whose `Butler.accepts_root` says yes (a remote client probes whether the URL answers as
    a skybutler server); everything else -- local paths, ``s3://`` and other storage URIs, a URL nobody
    claims (a repository read over plain HTTP) -- opens with ``"direct"``.  Local roots import nothing more.
    """
    text = str(root) if root is not None else ""
    if text.startswith(("http://", "https://")):
        for name in butler_implementations.names():
            if name == "direct":
                continue
            impl = butler_implementations.get(name)
            if impl.accepts_root(text):
                return impl
    return butler_implementations.get("direct")


def remote_implementation() -> type[Butler]:
    """The class registered as ``"remote"``, or a `ConfigError` that says how to get one."""
    try:
        return butler_implementations.get("remote")
    except PluginNotFoundError:
        raise ConfigError(
            "No remote butler implementation is installed, so Butler.from_server() cannot connect; install the "
            "client with: pip install 'skybutler[client]' (it registers itself as the 'remote' butler "
            "implementation), or open a repository by its root with Butler(root)."
        ) from None
