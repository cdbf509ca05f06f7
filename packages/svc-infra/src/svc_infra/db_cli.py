"""``svc-infra db …``: apply, inspect and write the installed packages' migrations.

Every installed plugin contributes its Alembic branch (``plugin.migrations()``); the
commands act on all of them together, on the database the settings select
(``SVC_DATABASE_URL``, or the embedded SQLite file under ``SVC_DATA_DIR``)::

    svc-infra db upgrade            # apply everything pending (Postgres: under an advisory lock)
    svc-infra db downgrade auth@-1  # undo the last revision of one package
    svc-infra db current            # the applied revision of each package
    svc-infra db pending            # what `upgrade` would apply
    svc-infra db check              # exit 1 when models and migrations differ (CI)
    svc-infra db revision auth -m "add last_login"   # write a new revision file
    svc-infra db upgrade --demo     # also the demo service's own tables (projects)

Failures print one line and exit 1; the database password is never printed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from svc_core.errors import SvcError
from svc_core.plugin import SvcPlugin, discover_plugins
from svc_core.settings import SvcSettings
from svc_core.sql import Migrator, RevisionInfo

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["db_app"]

T = TypeVar("T")

db_app = typer.Typer(
    name="db",
    help="Database migrations of the installed packages (one Alembic branch per package).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Progress and errors go to stderr; results (tables, lists) to stdout.
console = Console(stderr=True, highlight=False)
output = Console(highlight=False)


def _secret(url: str) -> str | None:
    try:
        return make_url(url).password
    except ArgumentError:
        return None


def _fail(message: str, secret: str | None = None) -> NoReturn:
    if secret:
        message = message.replace(secret, "***")
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code=1)


#: ``--demo``: include the demo service's own branch (``svc-infra demo``'s tables).
DemoOption = Annotated[
    bool,
    typer.Option(
        "--demo",
        help="Include the demo service's tables (the `demo` branch: projects).",
    ),
]


def _plugins(*, demo: bool) -> list[SvcPlugin]:
    if demo:
        from svc_infra.demo import demo_plugins

        return demo_plugins()
    return discover_plugins()


def _migrator(*, demo: bool = False) -> tuple[Migrator, str | None]:
    try:
        settings = SvcSettings()
    except ValidationError as exc:
        _fail(f"invalid settings: {exc.error_count()} error(s): {exc.errors()[0]['msg']}")
    url = settings.effective_database_url
    try:
        return Migrator.from_plugins(url, _plugins(demo=demo)), _secret(url)
    except SvcError as exc:
        _fail(exc.detail, _secret(url))


def _run(action: Callable[[Migrator], Awaitable[T]], *, demo: bool = False) -> T:
    """Run ``action`` on a fresh migrator; any failure becomes a message and exit 1."""
    migrator, secret = _migrator(demo=demo)

    async def main() -> T:
        async with migrator:
            return await action(migrator)

    try:
        return asyncio.run(main())
    except SvcError as exc:
        _fail(exc.detail, secret)
    except Exception as exc:  # noqa: BLE001 - a CLI reports, it does not dump tracebacks
        _fail(f"unexpected {type(exc).__name__}: {exc}", secret)


async def _apply(migrator: Migrator, target: str, *, downgrade: bool) -> list[str]:
    plan = await migrator.plan(target, downgrade=downgrade)
    if not plan:
        return []
    by_id = {info.revision: info for info in plan}
    sign, verb = ("-", "Reverting") if downgrade else ("+", "Applying")
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{verb} {len(plan)} revision(s)", total=len(plan))

        def on_revision(revision: str, message: str) -> None:
            source = by_id[revision].source if revision in by_id else None
            progress.console.print(f"  {sign} {revision} [{source or '?'}] {message}", markup=False)
            progress.advance(task)

        migrator.on_revision = on_revision
        if downgrade:
            return await migrator.downgrade(target)
        return await migrator.upgrade(target)


def _no_sources(migrator: Migrator) -> bool:
    if migrator.sources:
        return False
    console.print("No installed package has migrations.")
    return True


def _revision_line(info: RevisionInfo) -> str:
    return f"{info.revision}  [{info.source or '?'}]  {info.message}"


@db_app.command()
def upgrade(
    target: Annotated[
        str, typer.Argument(help="Revision to reach: heads, <package>@head, <package>@+1, an id.")
    ] = "heads",
    demo: DemoOption = False,
) -> None:
    """Apply pending migrations (every package's branch up to its head by default)."""

    async def action(migrator: Migrator) -> None:
        if _no_sources(migrator):
            return
        done = await _apply(migrator, target, downgrade=False)
        if done:
            console.print(f"Applied {len(done)} revision(s) to {migrator.url}", markup=False)
        else:
            console.print(f"Nothing to apply: {migrator.url} is up to date", markup=False)

    _run(action, demo=demo)


@db_app.command()
def downgrade(
    target: Annotated[
        str, typer.Argument(help="Revision to go back to: <package>@-1, <package>@base, base.")
    ],
    demo: DemoOption = False,
) -> None:
    """Undo migrations down to TARGET (data in dropped tables and columns is lost)."""

    async def action(migrator: Migrator) -> None:
        if _no_sources(migrator):
            return
        done = await _apply(migrator, target, downgrade=True)
        if done:
            console.print(f"Reverted {len(done)} revision(s) on {migrator.url}", markup=False)
        else:
            console.print(f"Nothing to revert on {migrator.url}", markup=False)

    _run(action, demo=demo)


@db_app.command()
def current(demo: DemoOption = False) -> None:
    """Show the applied revision of every package's branch."""

    async def action(migrator: Migrator) -> dict[str, str | None]:
        return await migrator.current()

    heads = _run(action, demo=demo)
    if not heads:
        console.print("No installed package has migrations.")
        return
    table = Table("package", "revision")
    for name, revision in heads.items():
        table.add_row(name, revision or "(none)")
    output.print(table)


@db_app.command()
def pending(demo: DemoOption = False) -> None:
    """List the revisions `svc-infra db upgrade` would apply, in order."""

    async def action(migrator: Migrator) -> list[RevisionInfo]:
        return await migrator.plan("heads")

    plan = _run(action, demo=demo)
    if not plan:
        console.print("No pending migrations.")
        return
    for info in plan:
        output.print(_revision_line(info), markup=False)
    console.print(f"{len(plan)} pending revision(s)")


@db_app.command()
def history(demo: DemoOption = False) -> None:
    """List every known revision, oldest first, marking the applied ones."""

    async def action(migrator: Migrator) -> list[RevisionInfo]:
        return await migrator.history()

    for info in _run(action, demo=demo):
        mark = "x" if info.applied else " "
        output.print(f"[{mark}] {_revision_line(info)}", markup=False)


@db_app.command()
def check(demo: DemoOption = False) -> None:
    """Compare the models with the migrated schema; exit 1 on any difference (for CI)."""

    async def action(migrator: Migrator) -> list[str]:
        return await migrator.check()

    differences = _run(action, demo=demo)
    if not differences:
        console.print("Models and migrations agree.")
        return
    for line in differences:
        output.print(f"- {line}", markup=False)
    console.print(
        f"[red]{len(differences)} difference(s)[/red] between models and migrations; "
        "run `svc-infra db upgrade`, or write a revision with `svc-infra db revision`."
    )
    raise typer.Exit(code=1)


@db_app.command()
def revision(
    source: Annotated[str, typer.Argument(help="The package (branch) the revision belongs to.")],
    message: Annotated[str, typer.Option("--message", "-m", help="What the revision does.")],
    autogenerate: Annotated[
        bool,
        typer.Option(
            "--autogenerate/--empty",
            help="Compare the models with the database (which must be at heads).",
        ),
    ] = True,
    demo: DemoOption = False,
) -> None:
    """Write a new revision file at the head of SOURCE's branch."""

    async def action(migrator: Migrator) -> str:
        path = await migrator.revision(source, message, autogenerate=autogenerate)
        return str(path)

    path = _run(action, demo=demo)
    console.print("Created", markup=False)
    output.print(path, markup=False, soft_wrap=True)
