"""``svc-infra tenants …``: create, list, suspend, re-activate, re-plan and export tenants.

Acts on the database the settings select (``SVC_DATABASE_URL`` or the embedded SQLite
file); the tenancy migrations must have been applied (``svc-infra db upgrade``)::

    svc-infra tenants create --slug acme --name "Acme Inc." --plan pro
    svc-infra tenants list
    svc-infra tenants suspend acme          # id or slug; its requests get 403
    svc-infra tenants activate acme
    svc-infra tenants set-plan acme free
    svc-infra tenants set-quota acme api 10/minute
    svc-infra tenants export acme -o acme.jsonl   # every row it owns, JSON Lines
"""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import nullcontext
from pathlib import Path  # noqa: TC003 - typer reads the annotations at run time
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from svc_core.errors import SvcError
from svc_core.settings import SvcSettings
from svc_core.sql import Database
from svc_tenancy.export import export_tenant
from svc_tenancy.settings import TenancySettings
from svc_tenancy.store import TenantInfo, TenantStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["tenants_app"]

T = TypeVar("T")

tenants_app = typer.Typer(
    name="tenants",
    help="Tenants: create, list, suspend, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, highlight=False)
output = Console(highlight=False)


def _fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code=1)


def _run(action: Callable[[TenantStore], Awaitable[T]]) -> T:
    settings = SvcSettings()
    tenancy = TenancySettings()

    async def main() -> T:
        async with Database.from_settings(settings) as database:
            store = TenantStore(database, default_plan=tenancy.default_plan, cache_ttl=0)
            return await action(store)

    try:
        return asyncio.run(main())
    except SvcError as exc:
        _fail(exc.detail)
    except Exception as exc:  # noqa: BLE001 - a CLI reports, it does not dump tracebacks
        if "svc_tenants" in str(exc):
            _fail("the tenants table is missing: run `svc-infra db upgrade` first")
        _fail(f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0]}")


def _as_dict(info: TenantInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "slug": info.slug,
        "name": info.name,
        "status": info.status,
        "plan": info.plan,
        "quota_overrides": info.quota_overrides,
    }


@tenants_app.command()
def create(
    slug: Annotated[str | None, typer.Option(help="Unique slug (default: the id).")] = None,
    name: Annotated[str | None, typer.Option(help="Display name (default: the slug).")] = None,
    plan: Annotated[
        str | None, typer.Option(help="Plan (default: SVC_TENANCY__DEFAULT_PLAN).")
    ] = None,
    tenant_id: Annotated[
        str | None, typer.Option("--id", help="Tenant id (default: a UUIDv7).")
    ] = None,
) -> None:
    """Create an active tenant and print it as JSON."""
    info = _run(lambda s: s.create(tenant_id=tenant_id, slug=slug, name=name, plan=plan))
    output.print_json(json.dumps(_as_dict(info)))


@tenants_app.command("list")
def list_tenants(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List every tenant."""

    async def action(store: TenantStore) -> list[TenantInfo]:
        found: list[TenantInfo] = []
        after: str | None = None
        while batch := await store.list(limit=1000, after=after):
            found.extend(batch)
            after = batch[-1].id
        return found

    tenants = _run(action)
    if as_json:
        for info in tenants:
            output.print(json.dumps(_as_dict(info)), markup=False, soft_wrap=True)
        return
    table = Table("id", "slug", "name", "status", "plan")
    for info in tenants:
        table.add_row(info.id, info.slug, info.name, info.status, info.plan)
    output.print(table)


def _change(ref: str, action: Callable[[TenantStore], Awaitable[TenantInfo]]) -> None:
    info = _run(action)
    console.print(f"{escape(ref)}: status={info.status} plan={info.plan}")


@tenants_app.command()
def suspend(ref: Annotated[str, typer.Argument(help="Tenant id or slug.")]) -> None:
    """Suspend a tenant: its requests get 403 (within SVC_TENANCY__CACHE_TTL seconds)."""
    _change(ref, lambda s: s.suspend(ref))


@tenants_app.command()
def activate(ref: Annotated[str, typer.Argument(help="Tenant id or slug.")]) -> None:
    """Re-activate a suspended tenant."""
    _change(ref, lambda s: s.activate(ref))


@tenants_app.command("set-plan")
def set_plan(
    ref: Annotated[str, typer.Argument(help="Tenant id or slug.")],
    plan: Annotated[str, typer.Argument(help="Plan name (a key of SVC_TENANCY__PLANS).")],
) -> None:
    """Move a tenant to another plan."""
    _change(ref, lambda s: s.update(ref, plan=plan))


@tenants_app.command("set-quota")
def set_quota(
    ref: Annotated[str, typer.Argument(help="Tenant id or slug.")],
    name: Annotated[str, typer.Argument(help="Quota name, e.g. api.")],
    limit: Annotated[str, typer.Argument(help="Limit, e.g. 100/minute; 'none' clears it.")],
) -> None:
    """Override one quota of one tenant (or clear the override with 'none')."""
    value = None if limit.lower() == "none" else limit
    _change(ref, lambda s: s.set_quota(ref, name, value))


@tenants_app.command()
def export(
    ref: Annotated[str, typer.Argument(help="Tenant id or slug.")],
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per round trip.")] = 1000,
) -> None:
    """Write every row the tenant owns, across all tenant-owned tables, as JSON Lines."""

    async def action(store: TenantStore) -> int:
        info = await store.resolve(ref)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(f"Exporting {info.slug}", total=0)

            def on_table(table: str, count: int) -> None:
                current = progress.tasks[task].total or 0
                progress.update(task, total=current + count, description=f"Exporting {table}")

            def on_rows(n: int) -> None:
                progress.advance(task, n)

            target = out.open("w", encoding="utf-8") if out else nullcontext(sys.stdout)
            with target as stream:
                return await export_tenant(
                    store.database,
                    info.id,
                    stream,
                    batch_size=batch_size,
                    on_table=on_table,
                    on_rows=on_rows,
                )

    count = _run(action)
    console.print(f"exported {count} row(s)")
