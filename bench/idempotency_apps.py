"""Apps for the svc-idempotency benchmark: one POST route, with and without Idempotency-Key.

Every app serves ``GET /ping`` -> ``{"ok": true}`` (readiness) and ``POST /items``, whose
handler does realistic work: it validates the body and inserts one row into a SQLite
database (WAL) through svc-core's ``Database`` — the kind of write an idempotency key
protects. ``plain`` has no idempotency at all; ``idem_memory`` and ``idem_redis`` add the
middleware (order 800 position: outermost here) and the route dependency, with records
and claims in memory or in Redis (``BENCH_REDIS_URL``). ``BENCH_DB`` names the SQLite file.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from svc_core.errors import install_error_handlers
from svc_core.kv import KV, MemoryKV
from svc_core.sql import Database
from svc_idempotency import (
    Idempotency,
    IdempotencyKey,
    IdempotencyMiddleware,
    IdempotentRequest,
    install_idempotency,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

METADATA = MetaData()
#: ``BENCH_DATABASE_URL`` (e.g. the machine's Postgres) puts the handler's table there, under
#: a per-process name dropped at shutdown; otherwise a SQLite file (``BENCH_DB``).
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "")
ITEMS = Table(
    f"bench_items_{os.getpid()}" if DATABASE_URL else "bench_items",
    METADATA,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("qty", Integer, nullable=False),
)


class ItemIn(BaseModel):
    name: str
    qty: int = 1


def _database() -> Database:
    if DATABASE_URL:
        return Database(DATABASE_URL, pool_size=8, max_overflow=0)
    path = os.environ.get("BENCH_DB") or str(Path(tempfile.mkdtemp()) / "bench.db")
    # One connection: SQLite has one writer; a queue in the pool beats busy-waiting.
    return Database(f"sqlite+aiosqlite:///{path}", pool_size=1, max_overflow=0)


def _build(kv: KV | None) -> FastAPI:
    db = _database()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with db.engine.begin() as conn:
            await conn.run_sync(METADATA.create_all)
        yield
        if DATABASE_URL:
            async with db.engine.begin() as conn:
                await conn.run_sync(METADATA.drop_all)
        await db.aclose()
        if kv is not None:
            await kv.aclose()

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)

    @app.get("/ping", response_model=None)
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    async def write(body: ItemIn) -> dict[str, Any]:
        row = {"id": str(uuid.uuid4()), "name": body.name, "qty": body.qty}
        async with db.transaction() as session:
            await session.execute(insert(ITEMS).values(**row))
        return row

    if kv is None:

        @app.post("/items", status_code=201)
        async def create_plain(body: ItemIn) -> dict[str, Any]:
            return await write(body)

        return app

    install_idempotency(app, Idempotency(kv))

    @app.post("/items", status_code=201)
    async def create(
        body: ItemIn,
        idem: Annotated[IdempotentRequest | None, Depends(IdempotencyKey())],  # noqa: ARG001
    ) -> dict[str, Any]:
        return await write(body)

    app.add_middleware(IdempotencyMiddleware)
    return app


def plain() -> FastAPI:
    """POST /items without idempotency."""
    return _build(None)


def idem_memory() -> FastAPI:
    """POST /items with Idempotency-Key, memory store."""
    return _build(MemoryKV("bench:"))


def idem_redis() -> FastAPI:
    """POST /items with Idempotency-Key, Redis store (``BENCH_REDIS_URL``)."""
    from svc_core.kv.redis import RedisKV

    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    # 1 s store timeout: at 100 % CPU the event loop itself lags past the 250 ms default.
    return _build(RedisKV(url, f"bench-idem:{uuid.uuid4().hex[:8]}:", timeout=1.0))
