"""Batched purges of expired SQL idempotency records and inbox marks (SQLite, Postgres).

What an operator relies on: expired rows go, live rows stay, a backlog larger than one
batch is worked off batch by batch (each its own short transaction), ``max_batches``
bounds one call, ``progress`` hears about every batch — and ``svc-infra idempotency
purge`` does the same from the command line.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio
from sqlalchemy import select
from svc_idempotency_testkit import FrozenClock, migrate
from typer.testing import CliRunner

from svc_core.sql import Database
from svc_idempotency import SqlIdempotencyStore, SqlInbox, StoredResponse
from svc_idempotency.cli import idempotency_app
from svc_idempotency.models import IdempotencyRecord, InboxMessage

RESPONSE = StoredResponse(fingerprint="f" * 64, status=201, headers=(), body=b"{}", created_at=0)


@pytest_asyncio.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await migrate(database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.aclose()


@dataclass
class Table:
    """One purgeable table: how to add a row that lives ``ttl`` s, and the purger."""

    add: Callable[[str, float], Awaitable[None]]
    purger: SqlIdempotencyStore | SqlInbox
    rows: Callable[[], Awaitable[set[str]]]


def _table(kind: str, db: Database, clock: FrozenClock) -> Table:
    if kind == "records":
        store = SqlIdempotencyStore(db, clock=clock)

        async def add_record(name: str, ttl: float) -> None:
            assert await store.put(name, RESPONSE, ttl)

        async def records() -> set[str]:
            async with db.session() as session:
                return set((await session.execute(select(IdempotencyRecord.scope))).scalars())

        return Table(add_record, store, records)

    async def add_mark(name: str, ttl: float) -> None:
        async with db.transaction() as session:
            assert await SqlInbox(db, ttl=ttl, clock=clock).mark(session, "billing", name)

    async def marks() -> set[str]:
        async with db.session() as session:
            return set((await session.execute(select(InboxMessage.message_id))).scalars())

    return Table(add_mark, SqlInbox(db, clock=clock), marks)


async def _seed(table: Table, clock: FrozenClock, expired: int, live: int) -> set[str]:
    """``expired`` rows that expire in 60 s and ``live`` rows that live an hour; then
    move the clock 2 minutes on. Returns the live names."""
    for i in range(expired):
        await table.add(f"old-{i:03}", 60)
    for i in range(live):
        await table.add(f"new-{i:03}", 3600)
    clock.advance(120)
    return {f"new-{i:03}" for i in range(live)}


@pytest.mark.parametrize("kind", ["records", "inbox"])
async def test_purge_deletes_expired_rows_batch_by_batch_and_keeps_live_ones(
    db: Database, kind: str
) -> None:
    clock = FrozenClock()
    table = _table(kind, db, clock)
    live = await _seed(table, clock, expired=25, live=5)
    assert await table.purger.expired_count() == 25

    batches: list[int] = []
    assert await table.purger.purge_expired(batch_size=10, progress=batches.append) == 25

    assert batches == [10, 10, 5]  # one call per batch; the short batch ends the loop
    assert await table.rows() == live
    assert await table.purger.expired_count() == 0
    assert await table.purger.purge_expired() == 0  # nothing left: one empty batch


@pytest.mark.parametrize("kind", ["records", "inbox"])
async def test_max_batches_bounds_one_call(db: Database, kind: str) -> None:
    clock = FrozenClock()
    table = _table(kind, db, clock)
    live = await _seed(table, clock, expired=25, live=3)

    batches: list[int] = []
    deleted = await table.purger.purge_expired(
        batch_size=10, max_batches=2, progress=batches.append
    )

    assert (deleted, batches) == (20, [10, 10])
    assert await table.purger.expired_count() == 5  # left for the next call
    assert await table.purger.purge_expired(batch_size=10, max_batches=2) == 5
    assert await table.rows() == live


@pytest.mark.parametrize("kind", ["records", "inbox"])
async def test_a_batch_exactly_full_is_followed_by_an_empty_one(db: Database, kind: str) -> None:
    clock = FrozenClock()
    table = _table(kind, db, clock)
    live = await _seed(table, clock, expired=20, live=2)

    batches: list[int] = []
    assert await table.purger.purge_expired(batch_size=10, progress=batches.append) == 20

    assert batches == [10, 10, 0]
    assert await table.rows() == live


@pytest.mark.parametrize("kind", ["records", "inbox"])
async def test_two_purges_at_once_delete_each_row_once(db: Database, kind: str) -> None:
    clock = FrozenClock()
    table = _table(kind, db, clock)
    live = await _seed(table, clock, expired=40, live=4)

    first, second = await asyncio.gather(
        table.purger.purge_expired(batch_size=3), table.purger.purge_expired(batch_size=3)
    )

    assert first + second == 40
    assert await table.rows() == live


async def test_store_and_inbox_still_work_after_a_purge(db: Database) -> None:
    clock = FrozenClock()
    store = SqlIdempotencyStore(db, clock=clock)
    inbox = SqlInbox(db, ttl=60, clock=clock)
    assert await store.put("s", RESPONSE, 60)
    async with db.transaction() as session:
        assert await inbox.mark(session, "billing", "m")
    clock.advance(61)
    assert await store.purge_expired() == 1
    assert await inbox.purge_expired() == 1
    assert await store.get("s") is None
    assert await store.put("s", RESPONSE, 60)  # the key is free again
    async with db.transaction() as session:
        assert await inbox.mark(session, "billing", "m")  # a new message again


@pytest.mark.parametrize("bounds", [{"batch_size": 0}, {"max_batches": 0}])
async def test_purge_refuses_bounds_below_one(db: Database, bounds: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=">= 1"):
        await SqlInbox(db).purge_expired(**bounds)  # type: ignore[arg-type]


def test_cli_purge_deletes_expired_rows_and_keeps_live_ones(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``svc-infra idempotency purge`` works off more rows than one batch holds."""

    async def seed() -> None:
        await migrate(database_url)
        db = Database(database_url)
        past = FrozenClock(time.time() - 7200)  # rows written two hours ago
        try:
            for i in range(5):
                assert await SqlIdempotencyStore(db, clock=past).put(f"old-{i}", RESPONSE, 60)
            assert await SqlIdempotencyStore(db).put("live", RESPONSE, 3600)
            async with db.transaction() as session:
                for i in range(3):
                    assert await SqlInbox(db, ttl=60, clock=past).mark(session, "c", f"old-{i}")
                assert await SqlInbox(db, ttl=3600).mark(session, "c", "live")
        finally:
            await db.aclose()

    async def remaining() -> tuple[list[str], list[str]]:
        db = Database(database_url)
        try:
            async with db.session() as session:
                records = (await session.execute(select(IdempotencyRecord.scope))).scalars()
                marks = (await session.execute(select(InboxMessage.message_id))).scalars()
                return sorted(records), sorted(marks)
        finally:
            await db.aclose()

    asyncio.run(seed())
    monkeypatch.setenv("SVC_DATABASE_URL", database_url)

    result = CliRunner().invoke(idempotency_app, ["purge", "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"records": 5, "inbox": 3}  # no bar: not a terminal
    assert asyncio.run(remaining()) == (["live"], ["live"])
