"""``skybutler serve``: the command that runs the server (listed by name in the CLI's table, loaded on use).

It lives here, not in ``skybutler.cli``, because the command line and the server are sibling layers that never
import each other (DESIGN §2); the CLI finds it through its lazy ``"module:attribute"`` table.
"""

from __future__ import annotations

import click

__all__ = ["serve"]


@click.command()
@click.argument("repo", metavar="REPO")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option("--url-lifetime", default=300, show_default=True, type=int, help="Seconds a signed file URL stays valid.")
@click.option(
    "--anonymous-grant",
    "anonymous",
    multiple=True,
    help="Grant of callers without a token (e.g. 'read:*'); none: they are refused.",
)
@click.option(
    "--trusted-user-header",
    default=None,
    help="Behind an authenticating reverse proxy only: the header naming the user (e.g. X-Forwarded-User).",
)
@click.option(
    "--header-grant",
    "header_grants",
    multiple=True,
    metavar="USER=GRANT",
    help="Grant of a user named by the trusted header ('*=read:*' for everyone); repeat for more.",
)
@click.option("--public-url", default=None, help="The URL clients reach the server at (for signed URLs).")
def serve(
    repo: str,
    host: str,
    port: int,
    url_lifetime: int,
    anonymous: tuple[str, ...],
    trusted_user_header: str | None,
    header_grants: tuple[str, ...],
    public_url: str | None,
) -> None:
    """Serve REPO over HTTP to remote butlers until interrupted.

    Clients authenticate with tokens from `skybutler token create`.  Signed file URLs are made with the key in
    SKYBUTLER_SERVER_SECRET (random per start when unset).  Use TLS through a reverse proxy in production.
    """
    from skybutler.registry import parse_grants
    from skybutler.server._config import ServerConfig
    from skybutler.server._run import serve as run

    by_user: dict[str, tuple[str, ...]] = {}
    for item in header_grants:
        user, sep, grant = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: write USER=GRANT, e.g. 'alice=write:u/alice/*'.")
        by_user[user] = (*by_user.get(user, ()), grant)
    parse_grants([*anonymous, *(g for gs in by_user.values() for g in gs)])  # refuse a malformed grant now
    config = ServerConfig(
        repo,
        url_lifetime=url_lifetime,
        anonymous_grants=anonymous,
        trusted_user_header=trusted_user_header,
        header_grants=by_user,
        public_url=public_url,
    )
    run(
        config,
        host=host,
        port=port,
        announce=lambda url: click.echo(f"serving {repo} at {url} (Ctrl-C stops)", err=True),
    )
