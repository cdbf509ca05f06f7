"""Postgres (asyncpg) checkouts: a one-round-trip pre-ping, and dropped connections replaced.

SQLAlchemy's asyncpg pre-ping is ``BEGIN``, ``;``, ``ROLLBACK``; svc-core's engine pings
with one ``;`` over the simple query protocol. What users rely on stays: a pooled
connection the server dropped is replaced on checkout, without an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg.transaction
import pytest
from sqlalchemy import text

from svc_core.sql import Database
from svc_core.testing.backends import database_url_or_skip

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

import pytest_asyncio


@pytest_asyncio.fixture
async def db() -> AsyncIterator[Database]:
    database = Database(database_url_or_skip(), pool_size=1, max_overflow=0)
    try:
        yield database
    finally:
        await database.aclose()


async def _backend_pid(db: Database) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_healthy_connection_passes_the_ping_and_is_reused(db: Database) -> None:
    from sqlalchemy import event

    invalidated: list[Any] = []

    def on_invalidate(_dbapi: Any, _record: Any, exc: Any) -> None:
        invalidated.append(exc)

    event.listen(db.engine.sync_engine, "invalidate", on_invalidate)
    pids = [await _backend_pid(db) for _ in range(5)]
    assert invalidated == []
    assert len(set(pids)) == 1  # one pooled connection, pinged four times, kept


async def test_a_checkout_pings_without_a_transaction(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _backend_pid(db)  # the pool now holds one used connection
    begins: list[Any] = []
    start = asyncpg.transaction.Transaction.start

    async def counted(self: Any) -> None:
        begins.append(self)
        await start(self)

    monkeypatch.setattr(asyncpg.transaction.Transaction, "start", counted)
    async with db.connect(autocommit=True) as conn:
        assert (await conn.execute(text("SELECT 41 + 1"))).scalar_one() == 42
    # SQLAlchemy's own pre-ping would have opened (and rolled back) one transaction.
    assert begins == []


async def test_a_connection_the_server_dropped_is_replaced_on_checkout(db: Database) -> None:
    first = await _backend_pid(db)
    killer = Database(database_url_or_skip())
    try:
        async with killer.connect() as conn:
            killed = (
                await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first})
            ).scalar_one()
        assert killed is True
    finally:
        await killer.aclose()
    second = await _backend_pid(db)  # no error: the ping found it dead, a new one came
    assert second != first
