"""Who is calling (token, trusted proxy header, or anonymous) and what they may do (grants on collections).

Every endpoint states the collections it touches and asks here: reads along a search path need ``read`` on
each collection named *and* on each collection a CHAINED one leads to; writes need ``write`` on the collection
written; dataset types, dimension records and maintenance need ``admin``.  A refusal is a
`PermissionDeniedError` (403) that names the collection, raised before anything changes.  Queries are the
exception the issue asks for: collections matched by a wildcard (or by no collection argument) that the caller
may not read are dropped silently, and the query's explanation says so (`readable_leaves`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from skybutler.errors import PermissionDeniedError
from skybutler.registry import CollectionType, Grant, TokenRecord, is_glob, parse_grants

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from skybutler.butler import DirectButler
    from skybutler.registry import CollectionRecord
    from skybutler.server._config import ServerConfig

__all__ = ["Caller", "authenticate"]


@dataclass(frozen=True)
class Caller:
    """An authenticated caller and the grants it holds."""

    user: str | None
    grants: tuple[Grant, ...]

    def _record(self) -> TokenRecord:
        return TokenRecord("", self.user or "", self.grants, 0, None, None)

    @property
    def is_admin(self) -> bool:
        """Whether the caller holds ``admin``."""
        return self._record().is_admin

    def may(self, action: str, collection: str) -> bool:
        """Whether ``action`` (read, write) on ``collection`` is granted."""
        return self._record().may(action, collection)

    def _who(self) -> str:
        return f"user {self.user!r}" if self.user else "an anonymous caller"

    def require_admin(self, what: str) -> None:
        """Refuse unless the caller holds ``admin``."""
        if not self.is_admin:
            raise PermissionDeniedError(f"{what} needs the 'admin' grant, which {self._who()} does not hold.")

    def require(self, action: str, collections: Iterable[str]) -> None:
        """Refuse unless ``action`` is granted on every one of ``collections`` (the first refused is named)."""
        for name in collections:
            if not self.may(action, name):
                raise PermissionDeniedError(
                    f"{self._who().capitalize()} may not {action} collection {name!r} "
                    f"(grants: {', '.join(str(g) for g in self.grants) or 'none'}); nothing was changed."
                )

    def require_read_path(self, butler: DirectButler, names: Sequence[str]) -> None:
        """Refuse a search path unless every collection named and every one its chains reach is readable."""
        self.require("read", [n for n in names if not is_glob(n)])
        self.require("read", [r.name for r in _reached(butler, names)])

    def scrub(self, butler: DirectButler, message: str) -> str:
        """A miss's message with the collections the caller may not read taken out of its "It exists in [...]"
        (a count is left), so an answer never names a collection the caller may not read."""
        import ast
        import re

        match = re.search(r" It exists in (\[.*?\]); add one of them to collections=\.", message)
        if match is None:
            return message
        names = [n for n in ast.literal_eval(match.group(1)) if isinstance(n, str)]
        kept = [n for n in names if self.may("read", n)]
        hidden = len(names) - len(kept)
        if not hidden:
            return message
        said = f" It exists in {kept}; add one of them to collections=." if kept else ""
        said += f" ({hidden} collection(s) you may not read also hold it.)" if kept else ""
        if not kept:
            said = f" It exists in {hidden} collection(s) you may not read."
        return message[: match.start()] + said + message[match.end() :]

    def readable_leaves(self, butler: DirectButler, names: Sequence[str] | None) -> tuple[list[str], str | None]:
        """A query's search path with what the caller may not read dropped, and a note when anything was.

        ``names`` None: every RUN collection (as a local query without collections does).
        """
        if names is None:
            candidates = [r.name for r in butler.registry.collections.query("*", [CollectionType.RUN])]
        else:
            self.require("read", [n for n in names if not is_glob(n) and not _is_chain(butler, n)])
            candidates = [r.name for r in _reached(butler, names)]
        kept = [n for n in candidates if self.may("read", n)]
        dropped = len(candidates) - len(kept)
        note = None
        if dropped:
            note = f"{dropped} collection(s) the caller may not read were left out of this query"
        return kept, note


def _is_chain(butler: DirectButler, name: str) -> bool:
    record = butler.registry.collections.find(name)
    return record is not None and record.type is CollectionType.CHAINED


def _reached(butler: DirectButler, names: Sequence[str]) -> list[CollectionRecord]:
    """The non-chain collections ``names`` (with globs) lead to, in search order."""
    return butler.registry.collections.flatten(list(names))


def authenticate(
    config: ServerConfig, butler: DirectButler, authorization: str | None, header_user: str | None
) -> Caller:
    """The caller of a request, from its ``Authorization: Bearer`` token or the trusted proxy header.

    Raises
    ------
    PermissionDeniedError
        No credentials and no anonymous access, or a token that is malformed, unknown, expired or revoked.
    """
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise PermissionDeniedError("Send the token as 'Authorization: Bearer <token>'.")
        record = butler.registry.tokens.check(token.strip())
        return Caller(record.user, record.grants)
    if config.trusted_user_header and header_user:
        grants = config.header_grants.get(header_user, config.header_grants.get("*", ()))
        return Caller(header_user, parse_grants(grants))
    if config.anonymous_grants:
        return Caller(None, parse_grants(config.anonymous_grants))
    raise PermissionDeniedError(
        "This server needs a token: pass token= to Butler(), or set SKYBUTLER_TOKEN "
        "(an administrator makes one with `skybutler token create`)."
    )
