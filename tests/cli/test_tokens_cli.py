"""``skybutler token create|list|revoke`` and ``skybutler serve --help``."""

from __future__ import annotations

import json

import pytest
from tests.cli.conftest import Run

from skybutler.butler import DirectButler
from skybutler.errors import PermissionDeniedError


def test_create_list_revoke(sample_repo: str, run: Run) -> None:
    made = run("token", "create", sample_repo, "--user", "alice", "--grant", "read:*", "--grant", "write:u/alice/*",
               "--expires-in", "2h", "--note", "notebook")  # fmt: skip
    assert made.exit_code == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("sbt_")
    assert "alice" in made.stderr
    listed = json.loads(run("token", "list", sample_repo, "--format", "json").stdout)
    assert [(t["user"], t["grants"], t["state"], t["note"]) for t in listed] == [
        ("alice", "read:* write:u/alice/*", "active", "notebook")
    ]
    assert token not in json.dumps(listed)
    revoked = run("token", "revoke", sample_repo, listed[0]["id"])
    assert revoked.exit_code == 0
    assert "revoked" in revoked.stdout
    with DirectButler(sample_repo) as butler, pytest.raises(PermissionDeniedError, match="revoked"):
        butler.registry.tokens.check(token)


def test_a_bad_grant_or_lifetime_is_refused(sample_repo: str, run: Run) -> None:
    bad = run("token", "create", sample_repo, "--user", "x", "--grant", "delete:*")
    assert bad.exit_code == 1
    assert "read:<collection glob>" in bad.stderr
    bad = run("token", "create", sample_repo, "--user", "x", "--grant", "read:*", "--expires-in", "soon")
    assert bad.exit_code == 2
    assert json.loads(run("token", "list", sample_repo, "--format", "json").stdout) == []
