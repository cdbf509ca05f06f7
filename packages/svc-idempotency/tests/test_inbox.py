"""Inbox de-duplication: SQL (SQLite, Postgres) and key-value (memory, Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from svc_idempotency_testkit import FrozenClock, migrate

from svc_core.kv import KV
from svc_core.sql import Database
from svc_idempotency import KVInbox, SqlInbox


@pytest_asyncio.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await migrate(database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.aclose()


async def test_sql_inbox_dedupes_and_expires(db: Database) -> None:
    clock = FrozenClock()
    inbox = SqlInbox(db, ttl=3600, clock=clock)
    async with db.transaction() as session:
        assert await inbox.mark(session, "billing", "m1") is True
    async with db.transaction() as session:
        assert await inbox.mark(session, "billing", "m1") is False
        assert await inbox.mark(session, "audit", "m1") is True  # per consumer
    clock.advance(3601)
    assert await inbox.purge_expired() == 2
    async with db.transaction() as session:
        assert await inbox.mark(session, "billing", "m1") is True


async def test_sql_inbox_mark_rolls_back_with_the_effects(db: Database) -> None:
    inbox = SqlInbox(db)

    class BoomError(Exception):
        pass

    with pytest.raises(BoomError):  # noqa: PT012 - the block is the transaction
        async with db.transaction() as session:
            assert await inbox.mark(session, "c", "m") is True
            raise BoomError
    async with db.transaction() as session:
        assert await inbox.mark(session, "c", "m") is True


async def test_kv_inbox(kv: KV) -> None:
    inbox = KVInbox(kv, ttl=60)
    async with inbox.process("c", "m1") as first:
        assert first is True
        async with inbox.process("c", "m1") as concurrent:
            assert concurrent is False
    async with inbox.process("c", "m1") as again:
        assert again is False
    assert await inbox.seen("c", "m1")

    class BoomError(Exception):
        pass

    with pytest.raises(BoomError):
        async with inbox.process("c", "m2") as first:
            raise BoomError
    async with inbox.process("c", "m2") as retry:
        assert retry is True  # the failed attempt did not mark it
    assert await inbox.mark("c", "m3") is True
    assert await inbox.mark("c", "m3") is False
