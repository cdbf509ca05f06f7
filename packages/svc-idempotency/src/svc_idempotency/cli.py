"""``svc-infra idempotency …``: inspect the outbox, requeue dead messages, purge expired rows.

Acts on the database the settings select (``SVC_DATABASE_URL`` or the embedded SQLite
file); the ``idempotency`` migrations must have been applied::

    svc-infra idempotency outbox            # depth, dead letters, sent, lag (JSON)
    svc-infra idempotency dead --limit 20   # dead messages with their last error
    svc-infra idempotency requeue <id> …    # give dead messages a fresh attempt budget
    svc-infra idempotency purge             # expired idempotency records and inbox marks

``purge`` deletes in batches (``--batch-size`` rows per short transaction) and shows a
progress bar on a terminal (on stderr; the counts go to stdout as JSON). Services with
svc-jobs also purge on a schedule (``SVC_IDEMPOTENCY__PURGE_EVERY``), wired by svc-infra.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from svc_core.settings import SvcSettings
from svc_core.sql import Database
from svc_idempotency.inbox import SqlInbox
from svc_idempotency.outbox import LoggingPublisher, OutboxRelay
from svc_idempotency.sql_store import DEFAULT_PURGE_BATCH, SqlIdempotencyStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["idempotency_app"]

T = TypeVar("T")

idempotency_app = typer.Typer(
    name="idempotency",
    help="Outbox and idempotency records: inspect, requeue, purge.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _with_db(work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database.from_settings(SvcSettings())
        try:
            return await work(db)
        finally:
            await db.aclose()

    return asyncio.run(run())


def _echo(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


@idempotency_app.command("outbox")
def outbox_stats() -> None:
    """Print the outbox's pending depth, dead letters, sent count and lag (seconds)."""
    stats = _with_db(lambda db: OutboxRelay(db, LoggingPublisher()).stats())
    _echo({"pending": stats.pending, "dead": stats.dead, "sent": stats.sent, "lag": stats.lag})


@idempotency_app.command("dead")
def dead(limit: Annotated[int, typer.Option(min=1, max=1000)] = 100) -> None:
    """List dead outbox messages (newest first) with their attempts and last error."""
    _echo(_with_db(lambda db: OutboxRelay(db, LoggingPublisher()).dead(limit)))


@idempotency_app.command("requeue")
def requeue(ids: Annotated[list[str], typer.Argument(help="Dead message ids.")]) -> None:
    """Put dead messages back to pending with a fresh attempt budget."""
    parsed = [uuid.UUID(i) for i in ids]
    count = _with_db(lambda db: OutboxRelay(db, LoggingPublisher()).requeue(parsed))
    _echo({"requeued": count})


@idempotency_app.command("purge")
def purge(
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Rows deleted per transaction.")
    ] = DEFAULT_PURGE_BATCH,
) -> None:
    """Delete expired idempotency records and inbox marks, in batches, with a progress bar."""
    # The bar goes to stderr, and only on a terminal: stdout stays plain JSON for scripts.
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )

    async def work(db: Database) -> dict[str, int]:
        tables: dict[str, tuple[str, SqlIdempotencyStore | SqlInbox]] = {
            "records": ("idempotency records", SqlIdempotencyStore(db)),
            "inbox": ("inbox marks", SqlInbox(db)),
        }
        done: dict[str, int] = {}
        with Progress(
            *columns, console=console, transient=True, disable=not console.is_terminal
        ) as progress:
            for name, (label, table) in tables.items():
                task = progress.add_task(label, total=await table.expired_count())

                def advance(deleted: int, task: TaskID = task) -> None:
                    progress.advance(task, deleted)

                done[name] = await table.purge_expired(batch_size=batch_size, progress=advance)
                progress.update(task, total=done[name], completed=done[name])
        return done

    _echo(_with_db(work))
