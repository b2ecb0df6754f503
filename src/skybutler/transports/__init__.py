"""Transports move bytes (local files, memory; S3 and HTTP are plug-ins of the same interface)."""

from __future__ import annotations

from skybutler.errors import ConfigError
from skybutler.plugins import PluginRegistry
from skybutler.transports._transport import Transport

__all__ = ["Transport", "open_transport", "transports"]

#: Transport classes by URI scheme: the built-ins, then ``skybutler.transports`` entry points.
transports: PluginRegistry[type[Transport]] = PluginRegistry(
    "transports",
    {
        "file": "skybutler.transports._local:LocalTransport",
        "mem": "skybutler.transports._memory:MemoryTransport",
    },
)


def open_transport(uri: str) -> Transport:
    """Return the transport for a root URI (a plain path means a local directory).

    Raises
    ------
    ConfigError
        No transport handles the URI's scheme (the message lists the known ones).
    """
    scheme, sep, _ = uri.partition("://")
    if not sep or len(scheme) < 2:
        scheme = "file"
    try:
        cls = transports.get(scheme)
    except ConfigError as exc:
        raise ConfigError(f"Cannot open {uri!r}: {exc}") from exc
    return cls(uri)
