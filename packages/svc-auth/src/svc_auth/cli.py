"""``svc-infra auth …``: create users, rotate signing keys, revoke a user's sessions.

Every command reads the same environment as the service (``SVC_DATABASE_URL``,
``SVC_REDIS_URL``, ``SVC_AUTH__…``); revocations are announced to running replicas
through the shared store, so they take effect at the next request.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from svc_auth.identity import normalize_email
from svc_auth.keys import key_file_path, rotate_key_file
from svc_auth.service import AuthService
from svc_auth.settings import AuthSettings
from svc_core.errors import SvcError
from svc_core.kv import kv_from_settings
from svc_core.settings import SvcSettings
from svc_core.sql import Database

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["auth_cli"]

auth_cli = typer.Typer(help="Accounts and sessions (svc-auth).", no_args_is_help=True)

_T = TypeVar("_T")


def _run(work: Callable[[AuthService], Awaitable[_T]]) -> _T:
    async def main() -> _T:
        settings = SvcSettings()
        kv = kv_from_settings(settings)
        database = Database.from_settings(settings)
        service = AuthService.create(settings, database=database, kv=kv)
        try:
            return await work(service)
        finally:
            await service.stop()
            await kv.aclose()
            await database.aclose()

    try:
        return asyncio.run(main())
    except SvcError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc


@auth_cli.command("create-user")
def create_user(
    email: str,
    admin: Annotated[bool, typer.Option("--admin", help="Grant the admin role.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Create a verified account (the password policy applies)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(service: AuthService) -> str:
        user = await service.create_user(
            email, password, roles=["admin"] if admin else [], verified=True
        )
        return str(user.id)

    typer.echo(f"created {normalize_email(email)} ({_run(work)})")


@auth_cli.command("rotate-keys")
def rotate_keys(
    alg: Annotated[str, typer.Option(help="EdDSA or ES256.")] = "EdDSA",
    keep: Annotated[int, typer.Option(help="Old keys kept for verification.")] = 2,
) -> None:
    """Add a new signing key to the key ring; old keys keep verifying until retired."""
    path = key_file_path(AuthSettings(), SvcSettings())
    kid = rotate_key_file(path, alg=alg, keep=keep)
    typer.echo(f"new signing key {kid} in {path}; restart the replicas to use it")


@auth_cli.command("revoke-sessions")
def revoke_sessions(email: str) -> None:
    """Revoke every session of a user (tokens refused at their next use)."""

    async def work(service: AuthService) -> int:
        user = await service.user_by_email(normalize_email(email))
        if user is None:
            typer.echo("error: no such user", err=True)
            raise typer.Exit(1)
        return await service.sessions.revoke_all(user.id, reason="admin")

    typer.echo(f"revoked {_run(work)} session(s)")
