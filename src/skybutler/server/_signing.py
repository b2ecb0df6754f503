"""HMAC-signed, expiring URLs of artifacts in a local-file datastore, served by the server itself.

A signed URL reads ``/api/v1/files/<key>?ds=<datastore>&op=GET&exp=<unix seconds>&sig=<hex>``: the signature is
an HMAC-SHA256, under the server's secret, of the operation, datastore, key and expiry.  Whoever holds the URL
may read (or, for ``op=PUT``, upload once) that one file until the expiry, without a token; nothing else.  A URL
altered in any part, or used after its expiry, is refused with 403.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlencode

from skybutler.errors import PermissionDeniedError

__all__ = ["check_signature", "sign_url"]


def _mac(secret: bytes, op: str, datastore: str, key: str, expires: int) -> str:
    message = f"{op}\n{datastore}\n{key}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign_url(base: str, secret: bytes, op: str, datastore: str, key: str, lifetime: int) -> tuple[str, int]:
    """A URL of the files endpoint under ``base`` allowing ``op`` on ``key`` for ``lifetime`` seconds."""
    expires = int(time.time()) + lifetime
    query = urlencode({"ds": datastore, "op": op, "exp": expires, "sig": _mac(secret, op, datastore, key, expires)})
    return f"{base}/files/{quote(key, safe='/')}?{query}", expires


def check_signature(secret: bytes, op: str, datastore: str, key: str, expires: int, signature: str) -> None:
    """Accept a signed URL's parts, or raise.

    Raises
    ------
    PermissionDeniedError
        The signature does not match (the URL was altered or signed for another operation) or has expired.
    """
    if not hmac.compare_digest(_mac(secret, op, datastore, key, expires).encode(), signature.encode()):
        raise PermissionDeniedError(f"The signature of this URL does not match {op} {key!r}; ask the server again.")
    if expires < time.time():
        raise PermissionDeniedError(f"This signed URL of {key!r} has expired; ask the server for a new one.")
