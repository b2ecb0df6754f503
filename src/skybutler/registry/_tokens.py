"""Bearer tokens of the remote butler, and the grants they carry: stored in the registry, secrets only hashed.

A token reads ``sbt_<id>_<secret>``: the id finds the row (so checking a token is one indexed lookup), the
secret is 32 random bytes of which the registry keeps only the SHA-256.  A token is refused once expired or
revoked.  Grants say what the token's holder may do (`Grant`):

``read:<glob>``
    read datasets of the collections whose names match the glob (``read:*``: everything);
``write:<glob>``
    put, remove, tag, certify and edit chains in matching collections (and read them);
``admin``
    everything, including dataset types, dimension records and maintenance (verify, reconcile).

This lives in the registry layer because the command line (``skybutler token``) and the server both use it,
and neither may import the other (DESIGN §2).
"""

from __future__ import annotations

import fnmatch
import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from skybutler.errors import ConfigError, PermissionDeniedError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from skybutler.registry._engines import Database

__all__ = ["Grant", "TokenRecord", "Tokens", "parse_grants"]

_PREFIX = "sbt_"


@dataclass(frozen=True, slots=True)
class Grant:
    """One permission: ``kind`` is ``read``, ``write`` or ``admin``; ``pattern`` a collection glob."""

    kind: str
    pattern: str = "*"

    @classmethod
    def parse(cls, text: str) -> Grant:
        """``read:<glob>``, ``write:<glob>`` or ``admin``.

        Raises
        ------
        ConfigError
            Anything else, with the accepted forms.
        """
        kind, sep, pattern = text.strip().partition(":")
        if kind == "admin" and not sep:
            return cls("admin")
        if kind in ("read", "write") and sep and pattern:
            return cls(kind, pattern)
        raise ConfigError(
            f"Unknown grant {text!r}: use 'read:<collection glob>', 'write:<collection glob>' or 'admin' "
            "(e.g. 'read:*', 'write:u/alice/*')."
        )

    def __str__(self) -> str:
        return self.kind if self.kind == "admin" else f"{self.kind}:{self.pattern}"


def parse_grants(texts: Iterable[str]) -> tuple[Grant, ...]:
    """Parse grants, in order, without duplicates (`Grant.parse` for the forms)."""
    out: list[Grant] = []
    for text in texts:
        grant = Grant.parse(text)
        if grant not in out:
            out.append(grant)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What the registry knows of a token (never its secret)."""

    id: str
    user: str
    grants: tuple[Grant, ...]
    created: int
    """Unix time in nanoseconds."""
    expires: int | None
    """Unix time in nanoseconds; None: never."""
    revoked: int | None
    note: str | None = None

    @property
    def is_admin(self) -> bool:
        """Whether the token may do everything."""
        return any(g.kind == "admin" for g in self.grants)

    def may(self, action: str, collection: str) -> bool:
        """Whether ``action`` (``read`` or ``write``) on ``collection`` is granted; writing includes reading."""
        for grant in self.grants:
            if grant.kind == "admin":
                return True
            if (grant.kind == action or (action == "read" and grant.kind == "write")) and fnmatch.fnmatchcase(
                collection, grant.pattern
            ):
                return True
        return False

    def state(self, now: int | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        now = time.time_ns() if now is None else now
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= now:
            return "expired"
        return "active"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    """The ``server_token`` table: create, check, list and revoke tokens."""

    def __init__(self, db: Database, table: sa.Table) -> None:
        self.db = db
        self.table = table
        t = table
        self._by_id = sa.select(
            t.c.secret_hash, t.c.token_id, t.c.user_name, t.c.grants, t.c.created, t.c.expires, t.c.revoked, t.c.note
        ).where(t.c.token_id == sa.bindparam("id"))
        """The one statement of `check` (built once: the server checks a token on every request)."""
        self._grants: dict[str, tuple[Grant, ...]] = {}
        """Parsed grants by their stored text (a pure function of the text, so never stale)."""

    def create(
        self,
        user: str,
        grants: Sequence[str | Grant],
        *,
        expires_in: float | None = 30 * 86400,
        note: str | None = None,
    ) -> tuple[str, TokenRecord]:
        """Make a token for ``user`` and return it (shown once: only its hash is kept) with its record.

        ``expires_in`` is in seconds (default 30 days); None makes a token that never expires.

        Raises
        ------
        ConfigError
            A grant is malformed, there is none, or the user name is empty.
        """
        parsed = parse_grants(str(g) for g in grants)
        if not user.strip():
            raise ConfigError("A token needs a user name (--user).")
        if not parsed:
            raise ConfigError("A token needs at least one grant, e.g. --grant 'read:*'.")
        if expires_in is not None and expires_in <= 0:
            raise ConfigError(f"A token's lifetime must be positive, not {expires_in} s.")
        import secrets  # only when a token is made (opening a registry stays light)

        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        now = time.time_ns()
        expires = None if expires_in is None else now + int(expires_in * 1e9)
        record = TokenRecord(token_id, user, parsed, now, expires, None, note)
        with self.db.transaction() as conn:
            conn.execute(
                self.table.insert().values(
                    token_id=token_id,
                    user_name=user,
                    secret_hash=_hash(secret),
                    grants="\n".join(str(g) for g in parsed),
                    created=now,
                    expires=expires,
                    note=note,
                )
            )
        return f"{_PREFIX}{token_id}_{secret}", record

    def check(self, token: str) -> TokenRecord:
        """The record of an active token.

        Raises
        ------
        PermissionDeniedError
            The token is malformed, unknown, expired or revoked (the message says which, never the secret).
        """
        token_id, _, secret = token.removeprefix(_PREFIX).partition("_")
        if not token.startswith(_PREFIX) or not token_id or not secret:
            raise PermissionDeniedError("The token is malformed: a skybutler token reads 'sbt_<id>_<secret>'.")
        import hmac

        row = self._row(token_id)
        if row is None or not hmac.compare_digest(row[0], _hash(secret)):
            raise PermissionDeniedError(f"Token {token_id} is not known here; ask for a new one.")
        record = row[1]
        state = record.state()
        if state != "active":
            raise PermissionDeniedError(f"Token {token_id} of {record.user} is {state}; ask for a new one.")
        return record

    def _row(self, token_id: str) -> tuple[str, TokenRecord] | None:
        """The token's hash and record, read afresh on every call (a revocation counts at once); one cached
        statement, run on the driver where the database allows (`Database.read_rows`)."""
        rows = self.db.read_rows(self._by_id, {"id": token_id})
        if not rows:
            return None
        secret_hash, tid, user, text, created, expires, revoked, note = rows[0]
        grants = self._grants.get(text)
        if grants is None:
            grants = self._grants[text] = parse_grants(g for g in str(text).splitlines() if g)
        record = TokenRecord(
            str(tid),
            str(user),
            grants,
            int(created),
            None if expires is None else int(expires),
            None if revoked is None else int(revoked),
            note,
        )
        return str(secret_hash), record

    @staticmethod
    def _record(row: sa.Row[tuple[object, ...]]) -> TokenRecord:
        m = row._mapping
        grants = parse_grants(g for g in str(m["grants"]).splitlines() if g)
        return TokenRecord(
            str(m["token_id"]),
            str(m["user_name"]),
            grants,
            int(m["created"]),
            None if m["expires"] is None else int(m["expires"]),
            None if m["revoked"] is None else int(m["revoked"]),
            m["note"],
        )

    def list(self, user: str | None = None) -> list[TokenRecord]:
        """Every token (of ``user``), oldest first."""
        t = self.table
        query = sa.select(t).order_by(t.c.created)
        if user is not None:
            query = query.where(t.c.user_name == user)
        with self.db.transaction(write=False) as conn:
            return [self._record(row) for row in conn.execute(query)]

    def revoke(self, token_id: str) -> bool:
        """Revoke a token by its id (or the whole token); return False when it was revoked already.

        Raises
        ------
        ConfigError
            No token has that id.
        """
        if token_id.startswith(_PREFIX):
            token_id = token_id.removeprefix(_PREFIX).partition("_")[0]
        t = self.table
        with self.db.transaction() as conn:
            found = conn.execute(sa.select(t.c.revoked).where(t.c.token_id == token_id)).first()
            if found is None:
                raise ConfigError(f"No token with id {token_id!r}; `skybutler token list` shows them.")
            if found[0] is not None:
                return False
            conn.execute(t.update().where(t.c.token_id == token_id).values(revoked=time.time_ns()))
        return True
