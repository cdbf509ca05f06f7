"""svc_core.sql's aiosqlite adapter: one thread round trip per statement, same results.

The adapter (``svc_core/sql/_aiosqlite.py``) changes how statements reach aiosqlite's
thread, never what they do: these tests pin the round-trip counts a user pays for and
every cursor attribute SQLAlchemy reads (rows, row count, last row id, RETURNING,
executemany), error translation, streaming results, and commit / rollback semantics.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

import aiosqlite.core
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, exc, insert, select, text

from svc_core.sql import Database
from svc_core.sql import _aiosqlite as fast

if TYPE_CHECKING:
    from pathlib import Path

META = MetaData()
ITEMS = Table(
    "items",
    META,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), nullable=False, unique=True),
)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every call aiosqlite runs on a connection's thread, by function name."""
    seen: Counter[str] = Counter()
    original = aiosqlite.core.Connection._execute

    async def counting(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen[getattr(fn, "__name__", repr(fn))] += 1
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.core.Connection, "_execute", counting)
    return seen


async def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'fast.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(META.create_all)
    return db


def test_the_fast_adapter_is_the_one_in_use() -> None:
    """With the pinned aiosqlite and SQLAlchemy the internals it needs are there."""
    assert fast.dbapi() is not None


async def test_a_select_is_one_round_trip_and_a_read_needs_no_rollback(
    tmp_path: Path, trips: Counter[str]
) -> None:
    db = await _db(tmp_path)
    try:
        async with db.begin() as conn:
            await conn.execute(insert(ITEMS).values(id=1, name="a"))
        async with db.connect() as conn:  # warm the pool
            await conn.execute(select(ITEMS.c.name))
        trips.clear()
        async with db.connect() as conn:
            rows = (await conn.execute(select(ITEMS.c.name).where(ITEMS.c.id == 1))).all()
        assert rows == [("a",)]
        # Stock SQLAlchemy + aiosqlite: cursor, execute, fetchall, close, rollback = 5.
        assert sum(trips.values()) == 1, trips
    finally:
        await db.aclose()


async def test_a_two_insert_transaction_is_three_round_trips(
    tmp_path: Path, trips: Counter[str]
) -> None:
    db = await _db(tmp_path)
    try:
        async with db.connect():  # warm the pool
            pass
        trips.clear()
        async with db.begin() as conn:
            await conn.execute(insert(ITEMS).values(id=1, name="a"))
            await conn.execute(insert(ITEMS).values(id=2, name="b"))
        assert sum(trips.values()) == 3, trips  # two statements + COMMIT (stock: 7)
        async with db.connect() as conn:
            assert (await conn.execute(select(ITEMS.c.name).order_by(ITEMS.c.id))).all() == [
                ("a",),
                ("b",),
            ]
    finally:
        await db.aclose()


async def test_cursor_attributes_match_sqlite(tmp_path: Path) -> None:
    db = await _db(tmp_path)
    try:
        async with db.begin() as conn:
            result = await conn.execute(text("INSERT INTO items (name) VALUES ('x')"))
            assert result.lastrowid == 1
            assert result.rowcount == 1
            many = await conn.execute(insert(ITEMS), [{"name": "y"}, {"name": "z"}])
            assert many.rowcount == 2
            returned = await conn.execute(
                insert(ITEMS).values(name="w").returning(ITEMS.c.id, ITEMS.c.name)
            )
            assert returned.all() == [(4, "w")]
            updated = await conn.execute(text("UPDATE items SET name = name || '!'"))
            assert updated.rowcount == 4
            gone = await conn.execute(text("DELETE FROM items WHERE id > 2"))
            assert gone.rowcount == 2
            described = await conn.execute(select(ITEMS.c.id, ITEMS.c.name).order_by("id"))
            assert list(described.keys()) == ["id", "name"]
            assert described.fetchmany(1) == [(1, "x!")]
            assert described.fetchone() == (2, "y!")
            assert described.fetchone() is None
    finally:
        await db.aclose()


async def test_errors_are_translated_and_the_transaction_rolls_back(tmp_path: Path) -> None:
    db = await _db(tmp_path)
    try:

        async def duplicate() -> None:
            async with db.begin() as conn:
                await conn.execute(insert(ITEMS).values(id=1, name="a"))
                await conn.execute(insert(ITEMS).values(id=2, name="a"))  # unique name

        async def unknown_table() -> None:
            async with db.connect() as conn:
                await conn.execute(text("SELECT nope FROM nowhere"))

        with pytest.raises(exc.IntegrityError):
            await duplicate()
        with pytest.raises(exc.OperationalError):
            await unknown_table()
        async with db.connect() as conn:  # the first insert went with the rollback
            assert (await conn.execute(select(ITEMS))).all() == []
    finally:
        await db.aclose()


async def test_explicit_rollback_discards_and_commit_keeps(tmp_path: Path) -> None:
    db = await _db(tmp_path)
    try:
        async with db.connect() as conn:
            await conn.execute(insert(ITEMS).values(id=1, name="gone"))
            await conn.rollback()
            await conn.execute(insert(ITEMS).values(id=2, name="kept"))
            await conn.commit()
            await conn.commit()  # nothing open: a no-op, no error
            await conn.rollback()
        async with db.session() as session:
            assert (await session.execute(select(ITEMS.c.name))).scalars().all() == ["kept"]
    finally:
        await db.aclose()


async def test_streaming_results_still_work(tmp_path: Path) -> None:
    db = await _db(tmp_path)
    try:
        async with db.begin() as conn:
            await conn.execute(insert(ITEMS), [{"name": f"n{i}"} for i in range(50)])
        async with db.connect() as conn:
            stream = await conn.stream(select(ITEMS.c.id).order_by(ITEMS.c.id))
            seen = [row.id async for row in stream]
        assert seen == list(range(1, 51))
    finally:
        await db.aclose()


async def test_concurrent_connections_see_committed_data(tmp_path: Path) -> None:
    db = await _db(tmp_path)
    try:

        async def add(i: int) -> None:
            async with db.begin() as conn:
                await conn.execute(insert(ITEMS).values(name=f"c{i}"))

        await asyncio.gather(*(add(i) for i in range(40)))
        async with db.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM items"))).scalar_one()
        assert count == 40
    finally:
        await db.aclose()
