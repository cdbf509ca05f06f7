"""Postgres (asyncpg) checkouts: a one-round-trip pre-ping, and dropped connections replaced.

SQLAlchemy's asyncpg pre-ping is ``BEGIN``, ``;``, ``ROLLBACK``; svc-core's engine pings
with one ``SELECT 1`` over the simple query protocol, and not at all for a connection
returned to the pool less than ``ping_idle_after`` seconds ago. What users rely on stays:
a pooled connection the server dropped while it sat idle is replaced on checkout, without
an error.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import asyncpg.connection
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
    """One pooled connection, pinged on every checkout."""
    database = Database(database_url_or_skip(), pool_size=1, max_overflow=0, ping_idle_after=0)
    try:
        yield database
    finally:
        await database.aclose()


@pytest_asyncio.fixture
async def default_db() -> AsyncIterator[Database]:
    """One pooled connection, the default ping window."""
    database = Database(database_url_or_skip(), pool_size=1, max_overflow=0)
    try:
        yield database
    finally:
        await database.aclose()


def _count_pings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    pings: list[str] = []
    execute = asyncpg.connection.Connection.execute

    async def counted(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        if query == "SELECT 1":
            pings.append(query)
        return await execute(self, query, *args, **kw)

    monkeypatch.setattr(asyncpg.connection.Connection, "execute", counted)
    return pings


async def _kill(pid: int) -> None:
    killer = Database(database_url_or_skip())
    try:
        async with killer.connect() as conn:
            killed = (
                await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            ).scalar_one()
        assert killed is True
    finally:
        await killer.aclose()


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
    await _kill(first)
    second = await _backend_pid(db)  # no error: the ping found it dead, a new one came
    assert second != first


async def test_a_connection_just_returned_is_reused_without_a_ping(
    default_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = [await _backend_pid(default_db)]
    pings = _count_pings(monkeypatch)
    pids += [await _backend_pid(default_db) for _ in range(5)]
    assert len(set(pids)) == 1
    assert pings == []  # back in the pool for microseconds each time: no round trip


async def test_a_connection_idle_past_the_window_is_pinged_and_replaced_when_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = Database(database_url_or_skip(), pool_size=1, max_overflow=0, ping_idle_after=0.2)
    try:
        first = await _backend_pid(db)
        await _kill(first)
        pings = _count_pings(monkeypatch)
        await asyncio.sleep(0.3)
        second = await _backend_pid(db)  # no error: idle past the window, pinged, replaced
        assert second != first
        assert pings == ["SELECT 1"]
    finally:
        await db.aclose()
