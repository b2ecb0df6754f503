"""`ServerConfig`: how ``skybutler serve`` authenticates callers and signs URLs."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

__all__ = ["ServerConfig"]


@dataclass(frozen=True)
class ServerConfig:
    """What a server needs besides its repository.

    Parameters
    ----------
    root
        The repository the server serves.
    secret
        Key of the HMAC that signs file URLs.  Default: ``SKYBUTLER_SERVER_SECRET``, else a random key made at
        start-up (URLs then stop working when the server restarts, and several server processes behind one
        proxy must be given the same secret).
    url_lifetime
        Seconds a signed URL stays valid (reads and uploads).
    anonymous_grants
        Grants of a caller without a token; empty (the default): such callers are refused.
    trusted_user_header
        Behind a reverse proxy that authenticates users: the request header naming the user (e.g.
        ``X-Forwarded-User``).  Off by default: anyone could send the header.
    header_grants
        Grants of users named by that header: by user name, with ``"*"`` for everyone else.
    public_url
        The URL clients reach the server at, for the signed URLs it hands out; default: the request's own.
    """

    root: str
    secret: bytes = field(default_factory=lambda: os.environ.get("SKYBUTLER_SERVER_SECRET", "").encode())
    url_lifetime: int = 300
    anonymous_grants: tuple[str, ...] = ()
    trusted_user_header: str | None = None
    header_grants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    public_url: str | None = None

    def __post_init__(self) -> None:
        if not self.secret:
            object.__setattr__(self, "secret", secrets.token_bytes(32))
