"""``skybutler token create|list|revoke``: the bearer tokens of a repository's server (``skybutler serve``)."""

from __future__ import annotations

import re
import time
from typing import Any

import click

from skybutler.cli._options import direct, open_butler, repo_argument
from skybutler.cli._output import emit, format_option

__all__ = ["parse_lifetime", "token"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_lifetime(text: str) -> float | None:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"3600"`` (seconds) → seconds; ``"never"`` → None."""
    if text == "never":
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if match is None:
        raise click.BadParameter(f"{text!r}: give a number with s, m, h or d (e.g. 30d), or 'never'.")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@click.group()
def token() -> None:
    """Make, list and revoke a repository's server tokens.

    Tokens are stored in the repository's registry as hashes only: `token create` prints the token once.
    """


@token.command()
@repo_argument
@click.option("--user", required=True, help="Who the token is for (shown in refusals and logs).")
@click.option(
    "--grant",
    "grants",
    multiple=True,
    required=True,
    help="A permission: 'read:<collection glob>', 'write:<collection glob>' or 'admin'; repeat for more.",
)
@click.option("--expires-in", default="30d", show_default=True, help="Lifetime: 30d, 12h, 90m, seconds, or 'never'.")
@click.option("--note", default=None, help="A note kept with the token (what it is for).")
@click.pass_context
def create(
    ctx: click.Context, repo: str, user: str, grants: tuple[str, ...], expires_in: str, note: str | None
) -> None:
    """Make a token for a user of REPO's server and print it (once: only its hash is stored).

    Example: skybutler token create REPO --user alice --grant 'read:*' --grant 'write:u/alice/*'
    """
    butler = direct(open_butler(ctx, repo, writeable=True), "make a token")
    secret, record = butler.registry.tokens.create(user, grants, expires_in=parse_lifetime(expires_in), note=note)
    click.echo(secret)
    granted = ", ".join(str(g) for g in record.grants)
    message = f"Made a token for {user} ({granted}); it is printed once, `skybutler token list` shows its id."
    click.echo(message, err=True)


@token.command(name="list")
@repo_argument
@click.option("--user", default=None, help="Only this user's tokens.")
@format_option
@click.pass_context
def list_(ctx: click.Context, repo: str, user: str | None, fmt: str) -> None:
    """List REPO's tokens (never their secrets): id, user, grants, state and expiry."""
    butler = direct(open_butler(ctx, repo), "list tokens")
    now = time.time_ns()
    rows: list[dict[str, Any]] = [
        {
            "id": r.id,
            "user": r.user,
            "grants": " ".join(str(g) for g in r.grants),
            "state": r.state(now),
            "expires": None if r.expires is None else _utc(r.expires),
            "note": r.note,
        }
        for r in butler.registry.tokens.list(user)
    ]
    emit(rows, fmt, empty="No tokens.")


def _utc(unix_ns: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(unix_ns / 1e9, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@token.command()
@repo_argument
@click.argument("token_id")
@click.pass_context
def revoke(ctx: click.Context, repo: str, token_id: str) -> None:
    """Revoke the token TOKEN_ID of REPO (its id from `token list`, or the whole token); at once and for good."""
    butler = direct(open_butler(ctx, repo, writeable=True), "revoke a token")
    if butler.registry.tokens.revoke(token_id):
        click.echo(f"revoked {token_id.removeprefix('sbt_').partition('_')[0]}")
    else:
        click.echo(f"{token_id} was revoked already")
