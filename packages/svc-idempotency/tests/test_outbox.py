"""Transactional outbox and relay, on SQLite and Postgres (the ``database_url`` fixture)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import insert
from svc_idempotency_testkit import migrate

from svc_core.sql import Database, uuid7
from svc_idempotency import CallbackPublisher, OutboxEvent, OutboxRelay, outbox
from svc_idempotency.models import OutboxMessage


@pytest_asyncio.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await migrate(database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.aclose()


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.events: list[OutboxEvent] = []
        self.fail_times = fail_times

    async def __call__(self, event: OutboxEvent) -> None:
        if self.fail_times > 0:
            self.fail_times -= 1
            msg = "broker down"
            raise ConnectionError(msg)
        self.events.append(event)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_committed_events_are_published_and_rolled_back_ones_are_not(db: Database) -> None:
    async with db.transaction() as session:
        event_id = await outbox.add(session, "orders.created", {"id": 1}, tenant_id="t1")

    class BoomError(Exception):
        pass

    with pytest.raises(BoomError):  # noqa: PT012 - the block is the transaction
        async with db.transaction() as session:
            await outbox.add(session, "orders.created", {"id": 2})
            raise BoomError
    rec = Recorder()
    relay = OutboxRelay(db, CallbackPublisher(rec))
    assert await relay.drain() == 1
    assert [(e.id, e.payload, e.tenant_id, e.attempt) for e in rec.events] == [
        (event_id, {"id": 1}, "t1", 1)
    ]
    assert await relay.drain() == 0
    stats = await relay.stats()
    assert (stats.pending, stats.sent, stats.dead) == (0, 1, 0)


async def test_failures_retry_with_backoff_then_go_dead_and_stay_visible(db: Database) -> None:
    clock = Clock()
    async with db.transaction() as session:
        await outbox.add(session, "t", {"x": 1})
    rec = Recorder(fail_times=100)
    relay = OutboxRelay(db, CallbackPublisher(rec), max_attempts=3, base_backoff=10, clock=clock)
    clock.now += timedelta(seconds=1)
    assert await relay.run_once() == 1
    # Backed off: nothing to claim until the delay (10 s ± 20 %) has passed.
    assert await relay.run_once() == 0
    clock.now += timedelta(seconds=7)
    assert await relay.run_once() == 0
    clock.now += timedelta(seconds=6)
    assert await relay.run_once() == 1
    stats = await relay.stats()
    assert stats.pending == 1
    assert stats.lag > 0
    clock.now += timedelta(seconds=30)
    assert await relay.run_once() == 1  # third attempt fails: dead
    clock.now += timedelta(days=1)
    assert await relay.run_once() == 0
    dead = await relay.dead()
    assert len(dead) == 1
    assert dead[0]["attempts"] == 3
    assert "ConnectionError: broker down" in dead[0]["last_error"]
    assert (await relay.stats()).dead == 1
    # An operator fixes the broker and requeues it.
    rec.fail_times = 0
    assert await relay.requeue([dead[0]["id"]]) == 1
    assert await relay.run_once() == 1
    assert len(rec.events) == 1
    assert (await relay.stats()).sent == 1


async def test_a_crashed_relays_batch_is_claimed_again_after_its_lease(db: Database) -> None:
    clock = Clock()
    async with db.transaction() as session:
        await outbox.add(session, "t", {"x": 1})
    crashed = OutboxRelay(db, CallbackPublisher(Recorder()), lease=60, clock=clock)
    clock.now += timedelta(seconds=1)
    assert len(await crashed.claim()) == 1  # claimed, then the process "dies"
    rec = Recorder()
    other = OutboxRelay(db, CallbackPublisher(rec), lease=60, clock=clock)
    assert await other.run_once() == 0
    clock.now += timedelta(seconds=61)
    assert await other.run_once() == 1
    assert len(rec.events) == 1


async def test_two_relays_racing_over_10000_rows_send_each_exactly_once(db: Database) -> None:
    n = 10_000
    now = datetime.now(UTC) - timedelta(seconds=5)
    rows = [
        {
            "id": uuid7(),
            "topic": "bulk",
            "payload": {"i": i},
            "headers": {},
            "tenant_id": None,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "available_at": now,
        }
        for i in range(n)
    ]
    async with db.transaction() as session:
        for start in range(0, n, 1000):
            await session.execute(insert(OutboxMessage), rows[start : start + 1000])
    sent: list[uuid.UUID] = []

    async def publish(event: OutboxEvent) -> None:
        sent.append(event.id)
        await asyncio.sleep(0)

    # Two relays, each with its own engine (own connection pool), like two processes.
    other_db = Database(db.url)
    try:
        a = OutboxRelay(db, CallbackPublisher(publish), batch_size=200)
        b = OutboxRelay(other_db, CallbackPublisher(publish), batch_size=200)
        counts = await asyncio.wait_for(asyncio.gather(a.drain(), b.drain()), timeout=300)
    finally:
        await other_db.aclose()
    assert sum(counts) == n
    assert all(c > 0 for c in counts), counts  # both really took part
    dupes = [k for k, v in Counter(sent).items() if v > 1]
    assert dupes == []
    assert len(sent) == n
    stats = await a.stats()
    assert (stats.pending, stats.sent) == (0, n)
