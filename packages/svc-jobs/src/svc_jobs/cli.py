"""``svc-infra jobs …``: worker, scheduler, dead-letter queue and stats.

The worker and scheduler build the same runtime as the app (settings → key-value store
and database) and import the modules that declare jobs: ``--app module`` (repeatable)
plus ``SVC_JOBS__IMPORTS``. Example for the demo service::

    svc-infra jobs worker --app svc_infra.demo.exports
"""

from __future__ import annotations

import asyncio
import json
import signal
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from svc_jobs.runtime import Jobs

__all__ = ["jobs_cli"]

T = TypeVar("T")

jobs_cli = typer.Typer(
    name="jobs", help="Background jobs: workers, schedules, dead letters.", no_args_is_help=True
)
dlq_cli = typer.Typer(name="dlq", help="The dead-letter queue.", no_args_is_help=True)
jobs_cli.add_typer(dlq_cli, name="dlq")

_APP = typer.Option([], "--app", "-a", help="Module declaring jobs (repeatable).")


@asynccontextmanager
async def _jobs(apps: list[str]) -> AsyncIterator[Jobs]:
    from svc_core.kv import kv_from_settings
    from svc_core.plugin import Runtime
    from svc_core.settings import SvcSettings
    from svc_core.sql import Database
    from svc_jobs.runtime import Jobs, import_job_modules
    from svc_jobs.settings import JobsSettings

    settings = SvcSettings()
    js = JobsSettings()
    import_job_modules([*js.imports, *apps])
    kv = kv_from_settings(settings)
    database = Database.from_settings(settings)
    jobs = Jobs(Runtime(settings=settings, kv=kv, database=database), js)
    try:
        yield jobs
    finally:
        await jobs.stop()
        await kv.aclose()
        await database.aclose()


def _until_signal(body: Callable[[Jobs, asyncio.Event], Awaitable[None]], apps: list[str]) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with _jobs(apps) as jobs:
            await body(jobs, stop)

    try:  # uvloop when installed, as taskiq's own worker does
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


def _once(body: Callable[[Jobs], Awaitable[T]], apps: list[str]) -> T:
    async def main() -> T:
        async with _jobs(apps) as jobs:
            return await body(jobs)

    return asyncio.run(main())


@jobs_cli.command()
def worker(app: list[str] = _APP) -> None:
    """Consume jobs until SIGTERM/SIGINT (then finish or return in-flight jobs)."""

    async def body(jobs: Jobs, stop: asyncio.Event) -> None:
        typer.echo(
            f"svc-jobs worker: {len(jobs.registry.jobs)} job(s), queue {jobs.stream}", err=True
        )
        await jobs.work(stop)

    _until_signal(body, app)


@jobs_cli.command()
def scheduler(app: list[str] = _APP) -> None:
    """Enqueue scheduled jobs (run several replicas: each tick fires once)."""
    from svc_jobs.scheduler import run_scheduler

    async def body(jobs: Jobs, stop: asyncio.Event) -> None:
        typer.echo(f"svc-jobs scheduler: {len(jobs.registry.schedules)} schedule(s)", err=True)
        await run_scheduler(jobs, stop)

    _until_signal(body, app)


@jobs_cli.command()
def stats(app: list[str] = _APP) -> None:
    """Print queue depth and dead-letter count as JSON."""
    typer.echo(json.dumps(_once(lambda j: j.stats(), app)))


@dlq_cli.command("list")
def dlq_list(
    name: str | None = typer.Option(None, help="Only this job."),
    limit: int = typer.Option(100, min=1),
    app: list[str] = _APP,
) -> None:
    """List dead letters (JSON lines)."""

    async def body(jobs: Jobs) -> list[dict[str, Any]]:
        return [e.to_dict() for e in await jobs.dead_letters(name=name, limit=limit)]

    for entry in _once(body, app):
        typer.echo(json.dumps(entry))


@dlq_cli.command("replay")
def dlq_replay(
    ids: list[str] = typer.Argument(None, help="Dead-letter ids (default: all)."),  # noqa: B008 - typer
    name: str | None = typer.Option(None, help="Only this job."),
    app: list[str] = _APP,
) -> None:
    """Enqueue dead letters again and remove them from the queue."""
    n = _once(lambda j: j.replay(ids or None, name=name), app)
    typer.echo(f"replayed {n}")


@dlq_cli.command("purge")
def dlq_purge(
    ids: list[str] = typer.Argument(None, help="Dead-letter ids (default: all)."),  # noqa: B008 - typer
    name: str | None = typer.Option(None, help="Only this job."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask."),  # noqa: FBT003 - typer
    app: list[str] = _APP,
) -> None:
    """Delete dead letters."""
    if not ids and not yes:
        typer.confirm("Delete every matching dead letter?", abort=True)
    n = _once(lambda j: j.purge(ids or None, name=name), app)
    typer.echo(f"purged {n}")
