"""Transports move bytes: local files, memory, S3, HTTP(S) (read-only) and fsspec protocols, one module each."""

from __future__ import annotations

from typing import Any

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
        "s3": "skybutler.transports._s3:S3Transport",
        "http": "skybutler.transports._http:HttpTransport",
        "https": "skybutler.transports._http:HttpTransport",
        "fsspec": "skybutler.transports._fsspec:FsspecTransport",
        "gs": "skybutler.transports._fsspec:FsspecTransport",
        "gcs": "skybutler.transports._fsspec:FsspecTransport",
        "az": "skybutler.transports._fsspec:FsspecTransport",
        "abfs": "skybutler.transports._fsspec:FsspecTransport",
    },
)


#: Option names that would put a secret into configuration files: refused (use the standard credential chain).
_SECRETS = ("secret", "password", "token", "access_key", "credential")


def open_transport(uri: str, **options: Any) -> Transport:
    """Return the transport for a root URI (a plain path means a local directory).

    ``fsspec+<protocol>://...`` goes through the fsspec adapter.  ``options`` are the transport's own
    settings (``endpoint_url`` for S3, say); credentials are never accepted here.

    Raises
    ------
    ConfigError
        No transport handles the URI's scheme (the message lists the known ones), or an option is unknown
        or is a credential.
    """
    scheme, sep, _ = uri.partition("://")
    if not sep or len(scheme) < 2:
        scheme = "file"
    scheme = scheme.partition("+")[0]
    try:
        cls = transports.get(scheme)
    except ConfigError as exc:
        raise ConfigError(f"Cannot open {uri!r}: {exc}") from exc
    secret = [name for name in options if any(word in name.lower() for word in _SECRETS)]
    if secret:
        raise ConfigError(
            f"Credentials are not taken from configuration ({', '.join(sorted(secret))}); use the standard "
            "places: environment variables, a profile, or the instance role."
        )
    unknown = sorted(set(options) - cls.options)
    if unknown:
        raise ConfigError(
            f"The {scheme} transport has no option {', '.join(map(repr, unknown))}; "
            f"it accepts: {', '.join(sorted(cls.options)) or 'none'}."
        )
    return cls(uri, **options)
