"""The transactional outbox: events written with the business rows, relayed at least once.

Write side, inside the caller's transaction::

    async with db.transaction() as session:
        session.add(order)
        await outbox.add(session, "orders.created", {"id": str(order.id)})

Relay side: :class:`OutboxRelay` claims batches — ``FOR UPDATE SKIP LOCKED`` on
Postgres; on SQLite one atomic ``UPDATE … RETURNING`` under SQLite's single-writer lock
— marks each row with its owner and a lease, publishes through a pluggable
:class:`Publisher`, marks rows ``sent``, and on failure retries with exponential backoff
(+ jitter) until ``max_attempts``, after which the row is ``dead`` with its
``last_error`` kept for inspection and :meth:`OutboxRelay.requeue`. Several relays in
parallel never claim one row twice while its lease runs; a relay that dies mid-batch
leaves rows that are claimed again once their lease expires (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.exc import OperationalError

from svc_core.context import get_request_id, get_tenant_id
from svc_core.kv import new_owner
from svc_core.sql import uuid7
from svc_idempotency import metrics
from svc_idempotency.models import OutboxMessage

if TYPE_CHECKING:
    import uuid
    from collections.abc import Awaitable, Callable, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from svc_core.sql import Database

__all__ = [
    "CallbackPublisher",
    "LoggingPublisher",
    "OutboxEvent",
    "OutboxRelay",
    "OutboxStats",
    "Publisher",
    "add",
]

logger = logging.getLogger("svc_idempotency.outbox")

_T: Table = cast("Table", OutboxMessage.__table__)


def _now() -> datetime:
    return datetime.now(UTC)


async def add(
    session: AsyncSession,
    topic: str,
    payload: Any,
    *,
    headers: dict[str, str] | None = None,
    tenant_id: str | None = None,
) -> uuid.UUID:
    """Add an event to the outbox in ``session``'s transaction; return its id.

    Nothing is published until the transaction commits (a rollback drops the event
    with the business rows). The current tenant and request id travel in ``headers``
    unless given.

    Args:
        session: The caller's session (inside its transaction).
        topic: Where the publisher sends it (e.g. ``orders.created``).
        payload: A JSON-serialisable document.
        headers: Extra metadata.
        tenant_id: Defaults to the current tenant.
    """
    meta = dict(headers or {})
    request_id = get_request_id()
    if request_id and "request_id" not in meta:
        meta["request_id"] = request_id
    now = _now()
    message = OutboxMessage(
        id=uuid7(),
        topic=topic,
        payload=payload,
        headers=meta,
        tenant_id=tenant_id if tenant_id is not None else get_tenant_id(),
        status="pending",
        attempts=0,
        created_at=now,
        available_at=now,
    )
    session.add(message)
    return message.id


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An outbox row handed to a :class:`Publisher`.

    Attributes:
        id: Unique message id (use it to de-duplicate downstream: see the inbox).
        topic: The topic.
        payload: The JSON document.
        headers: Metadata (request id, …).
        tenant_id: The tenant it belongs to.
        attempt: 1 for the first publish attempt.
        created_at: When the business transaction wrote it.
    """

    id: uuid.UUID
    topic: str
    payload: Any
    headers: dict[str, str]
    tenant_id: str | None
    attempt: int
    created_at: datetime


@runtime_checkable
class Publisher(Protocol):
    """Sends one event somewhere (a broker, a job queue, webhooks). Raise to retry."""

    async def publish(self, event: OutboxEvent) -> None:
        """Publish ``event``; raising marks the attempt failed."""
        ...


class LoggingPublisher:
    """Logs each event (the default when nothing else is configured)."""

    async def publish(self, event: OutboxEvent) -> None:
        """Log the event's id and topic."""
        logger.info("outbox event %s on %s", event.id, event.topic)


class CallbackPublisher:
    """Publishes by calling ``callback(event)`` (an async function)."""

    def __init__(self, callback: Callable[[OutboxEvent], Awaitable[None]]) -> None:
        """Publish through ``callback``."""
        self.callback = callback

    async def publish(self, event: OutboxEvent) -> None:
        """Call the callback."""
        await self.callback(event)


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Counts of the outbox, as exported by the metrics.

    Attributes:
        pending: Waiting to be published (including retries).
        dead: Gave up after the last attempt.
        sent: Published (until purged).
        lag: Seconds since the oldest pending message was written (0 when none).
    """

    pending: int
    dead: int
    sent: int
    lag: float


class OutboxRelay:
    """Moves outbox rows to a :class:`Publisher`, at least once, with retries.

    Example::

        relay = OutboxRelay(db, CallbackPublisher(send_to_broker))
        await relay.run_once()          # one batch; or relay.start() / await relay.stop()
    """

    def __init__(
        self,
        database: Database,
        publisher: Publisher,
        *,
        batch_size: int = 100,
        lease: float = 60.0,
        max_attempts: int = 10,
        base_backoff: float = 1.0,
        max_backoff: float = 3600.0,
        poll_interval: float = 1.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        """Configure the relay.

        Args:
            database: The database holding ``svc_outbox``.
            publisher: Where events go.
            batch_size: Rows claimed at a time.
            lease: Seconds a claimed batch belongs to this relay; after that (a crash)
                another relay may claim the rows again.
            max_attempts: Attempts before a row is marked ``dead``.
            base_backoff: First retry delay in seconds (doubles each attempt, ±20 %).
            max_backoff: Cap of the retry delay.
            poll_interval: Seconds :meth:`start`'s loop sleeps when idle.
            clock: Aware UTC "now" (frozen in tests).
        """
        self.database = database
        self.publisher = publisher
        self.batch_size = batch_size
        self.lease = lease
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.poll_interval = poll_interval
        self.clock = clock
        self.owner = new_owner()
        self._task: asyncio.Task[None] | None = None

    def backoff(self, attempt: int) -> float:
        """Seconds before retry number ``attempt`` (1-based), with ±20 % jitter."""
        delay = min(self.max_backoff, self.base_backoff * 2 ** (attempt - 1))
        return float(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not security

    async def claim(self) -> list[OutboxEvent]:
        """Claim up to ``batch_size`` publishable rows for this relay."""
        now = self.clock()
        ids = (
            select(_T.c.id)
            .where(
                _T.c.status == "pending",
                _T.c.available_at <= now,
                or_(_T.c.claimed_until.is_(None), _T.c.claimed_until < now),
            )
            .order_by(_T.c.available_at, _T.c.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)  # Postgres; SQLite ignores it (one writer)
            .scalar_subquery()
        )
        stmt = (
            update(_T)
            .where(_T.c.id.in_(ids))
            .values(claimed_by=self.owner, claimed_until=now + timedelta(seconds=self.lease))
            .returning(
                _T.c.id,
                _T.c.topic,
                _T.c.payload,
                _T.c.headers,
                _T.c.tenant_id,
                _T.c.attempts,
                _T.c.created_at,
            )
        )
        for attempt in range(20):
            try:
                async with self.database.transaction() as session:
                    rows = (await session.execute(stmt)).all()
                break
            except OperationalError:  # SQLite "database is locked" past busy_timeout
                if self.database.dialect != "sqlite" or attempt == 19:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        events = [
            OutboxEvent(
                id=r.id,
                topic=r.topic,
                payload=r.payload,
                headers=dict(r.headers or {}),
                tenant_id=r.tenant_id,
                attempt=r.attempts + 1,
                created_at=r.created_at,
            )
            for r in rows
        ]
        events.sort(key=lambda e: e.id)
        return events

    async def _settle(
        self, sent: Sequence[uuid.UUID], failed: Sequence[tuple[OutboxEvent, str]]
    ) -> None:
        now = self.clock()
        async with self.database.transaction() as session:
            if sent:
                await session.execute(
                    update(_T)
                    .where(_T.c.id.in_(sent), _T.c.claimed_by == self.owner)
                    .values(
                        status="sent",
                        sent_at=now,
                        attempts=_T.c.attempts + 1,
                        claimed_by=None,
                        claimed_until=None,
                        last_error=None,
                    )
                )
            for event, error in failed:
                dead = event.attempt >= self.max_attempts
                await session.execute(
                    update(_T)
                    .where(_T.c.id == event.id, _T.c.claimed_by == self.owner)
                    .values(
                        status="dead" if dead else "pending",
                        attempts=event.attempt,
                        available_at=now + timedelta(seconds=self.backoff(event.attempt)),
                        claimed_by=None,
                        claimed_until=None,
                        last_error=error[:2000],
                    )
                )

    async def run_once(self) -> int:
        """Claim one batch, publish it, record the outcomes; return how many were claimed."""
        events = await self.claim()
        sent: list[uuid.UUID] = []
        failed: list[tuple[OutboxEvent, str]] = []
        for event in events:
            try:
                await self.publisher.publish(event)
            except Exception as exc:  # noqa: BLE001 - any publisher failure is retried
                metrics.OUTBOX_FAILURES.labels(event.topic).inc()
                logger.warning("outbox publish of %s failed (attempt %d)", event.id, event.attempt)
                failed.append((event, f"{type(exc).__name__}: {exc}"))
            else:
                metrics.OUTBOX_PUBLISHED.labels(event.topic).inc()
                sent.append(event.id)
        if events:
            await self._settle(sent, failed)
        return len(events)

    async def drain(self, *, max_batches: int = 1_000_000) -> int:
        """Run batches until none is left (or ``max_batches``); return rows claimed."""
        total = 0
        for _ in range(max_batches):
            n = await self.run_once()
            if n == 0:
                break
            total += n
        return total

    async def stats(self) -> OutboxStats:
        """Depth, dead letters and lag; also updates the Prometheus gauges."""
        async with self.database.session() as session:
            counts: dict[str, int] = dict(
                (
                    await session.execute(select(_T.c.status, func.count()).group_by(_T.c.status))
                ).all()
            )
            oldest = (
                await session.execute(
                    select(func.min(_T.c.created_at)).where(_T.c.status == "pending")
                )
            ).scalar_one_or_none()
        lag = max(0.0, (self.clock() - oldest).total_seconds()) if oldest is not None else 0.0
        stats = OutboxStats(
            pending=int(counts.get("pending", 0)),
            dead=int(counts.get("dead", 0)),
            sent=int(counts.get("sent", 0)),
            lag=lag,
        )
        metrics.OUTBOX_DEPTH.set(stats.pending)
        metrics.OUTBOX_DEAD.set(stats.dead)
        metrics.OUTBOX_LAG.set(stats.lag)
        return stats

    async def dead(self, limit: int = 100) -> list[dict[str, Any]]:
        """Rows that gave up, newest first, with their attempts and last error."""
        async with self.database.session() as session:
            rows = (
                await session.execute(
                    select(_T.c.id, _T.c.topic, _T.c.attempts, _T.c.last_error, _T.c.created_at)
                    .where(_T.c.status == "dead")
                    .order_by(_T.c.created_at.desc())
                    .limit(limit)
                )
            ).all()
        return [dict(r._mapping) for r in rows]

    async def requeue(self, ids: Sequence[uuid.UUID]) -> int:
        """Put dead rows back to ``pending`` with a fresh attempt budget."""
        async with self.database.transaction() as session:
            result = await session.execute(
                update(_T)
                .where(and_(_T.c.id.in_(ids), _T.c.status == "dead"))
                .values(status="pending", attempts=0, available_at=self.clock())
            )
        return int(getattr(result, "rowcount", 0) or 0)

    def start(self) -> None:
        """Run in the background until :meth:`stop`."""
        self._task = asyncio.create_task(self._loop(), name="svc-outbox-relay")

    async def stop(self) -> None:
        """Stop the background loop (the current batch's rows expire if unfinished)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            try:
                claimed = await self.run_once()
                await self.stats()
            except Exception:
                logger.warning("outbox relay batch failed", exc_info=True)
                claimed = 0
            if claimed < self.batch_size:
                await asyncio.sleep(self.poll_interval)
