"""Bearer tokens in the registry (both back-ends): only hashes stored, expiry, revocation, malformed grants."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from skybutler.butler import DirectButler
from skybutler.errors import ConfigError, PermissionDeniedError
from skybutler.registry import Grant, Registry


@pytest.fixture
def registry(repo: str) -> Iterator[Registry]:
    with DirectButler(repo, writeable=True) as butler:
        yield butler.registry


def test_a_token_is_stored_only_as_a_hash_and_checks(registry: Registry) -> None:
    token, record = registry.tokens.create("alice", ["read:*", "write:u/alice/*", "read:*"], note="laptop")
    assert record.grants == (Grant("read", "*"), Grant("write", "u/alice/*"))  # parsed, duplicates dropped
    secret = token.removeprefix("sbt_").partition("_")[2]  # the id holds no "_"; the secret may
    assert len(secret) >= 40
    with registry.db.transaction(write=False) as conn:
        stored = [tuple(row) for row in conn.execute(sa.select(registry.tables.server_token))]
    assert len(stored) == 1
    assert not any(secret in str(value) for value in stored[0])  # the secret itself is nowhere
    checked = registry.tokens.check(token)
    assert (checked.user, checked.grants, checked.note) == ("alice", record.grants, "laptop")
    assert checked.may("read", "anything")
    assert checked.may("write", "u/alice/run1")
    assert not checked.may("write", "u/bob/run1")
    assert not checked.is_admin


def test_expired_revoked_altered_and_malformed_tokens_are_refused(registry: Registry) -> None:
    short, _ = registry.tokens.create("bob", ["read:*"], expires_in=0.05)
    time.sleep(0.1)
    with pytest.raises(PermissionDeniedError, match="expired"):
        registry.tokens.check(short)
    token, record = registry.tokens.create("bob", ["read:*"])
    registry.tokens.check(token)
    with pytest.raises(PermissionDeniedError, match="not known"):
        registry.tokens.check(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    for bad in ("", "sbt_", "Bearer x", "sbt_abc", "nope_" + token):
        with pytest.raises(PermissionDeniedError, match=r"malformed|not known"):
            registry.tokens.check(bad)
    assert registry.tokens.revoke(record.id) is True
    assert registry.tokens.revoke(token) is False  # the whole token names it too; revoked already
    with pytest.raises(PermissionDeniedError, match="revoked"):
        registry.tokens.check(token)
    assert [r.state() for r in registry.tokens.list("bob")] == ["expired", "revoked"]
    with pytest.raises(ConfigError, match="No token"):
        registry.tokens.revoke("0123456789abcdef")


@pytest.mark.parametrize("grant", ["read", "read:", "write", "admin:*", "delete:*", "", "READ:*"])
def test_malformed_grants_are_refused_with_the_forms(registry: Registry, grant: str) -> None:
    with pytest.raises(ConfigError, match="read:<collection glob>"):
        registry.tokens.create("carol", [grant])
    assert registry.tokens.list() == []
