"""Test helpers: an in-process FastAPI app honouring Idempotency-Key over every store.

``engine`` is parametrized over the stores a user can pick: ``memory`` and ``redis``
(records and claims in the key-value store), ``sql-sqlite`` and ``sql-postgres``
(records in SQL — migrated with the package's own Alembic branch — claims in memory
or Redis respectively).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import pytest
import pytest_asyncio
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from svc_core.context import Principal
from svc_core.context import scope as context_scope
from svc_core.errors import install_error_handlers
from svc_core.http import ErrorBoundaryMiddleware
from svc_core.kv import KV, MemoryKV
from svc_core.sql import Database, Migrator
from svc_core.testing.backends import database_url_or_skip, redis_url_or_skip
from svc_core.testing.kv_fixtures import unique_namespace
from svc_core.testing.sql_fixtures import fresh_postgres_database
from svc_idempotency import (
    Idempotency,
    IdempotencyKey,
    IdempotencyMiddleware,
    IdempotencyPlugin,
    IdempotentRequest,
    SqlIdempotencyStore,
    install_idempotency,
)


class FrozenClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Engine:
    """An idempotency engine on one store, and what built it."""

    kind: str
    manager: Idempotency
    kv: KV
    clock: FrozenClock | None
    database: Database | None = None
    calls: dict[str, int] = field(default_factory=dict)
    gate: asyncio.Event | None = None


async def migrate(url: str) -> None:
    """Apply the package's Alembic branch to ``url``."""
    source = IdempotencyPlugin().migrations()
    assert source is not None
    async with Migrator(url, [source]) as migrator:
        await migrator.upgrade("heads")


@pytest_asyncio.fixture(params=["memory", "redis", "sql-sqlite", "sql-postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Engine]:
    """An :class:`Idempotency` on each store (frozen clock where the store allows it)."""
    kind: str = request.param
    ns = unique_namespace()
    clock: FrozenClock | None = None
    database: Database | None = None
    if kind in ("memory", "sql-sqlite"):
        clock = FrozenClock()
        kv: KV = MemoryKV(ns, clock=clock)
    else:
        from svc_core.kv.redis import RedisKV

        kv = RedisKV(redis_url_or_skip(), ns, timeout=5.0, max_connections=32)
    try:
        if kind == "sql-sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'idem.db'}"
            await migrate(url)
            database = Database(url)
            store = SqlIdempotencyStore(database, clock=clock or FrozenClock())
            yield Engine(kind, Idempotency(kv, store, lease=5.0), kv, clock, database)
        elif kind == "sql-postgres":
            async with fresh_postgres_database(database_url_or_skip()) as url:
                await migrate(url)
                database = Database(url)
                store = SqlIdempotencyStore(database)
                try:
                    yield Engine(kind, Idempotency(kv, store, lease=5.0), kv, None, database)
                finally:
                    await database.aclose()
                    database = None
        else:
            yield Engine(kind, Idempotency(kv, lease=5.0), kv, clock)
    finally:
        if database is not None:
            await database.aclose()
        if kv.backend == "redis":
            client = kv.client  # type: ignore[attr-defined]
            keys = [k async for k in client.scan_iter(match=ns + "*", count=500)]
            if keys:
                await client.delete(*keys)
        await kv.aclose()


class ContextFromHeaders:
    """Test stand-in for auth + tenancy: principal and tenant from X-Test-* headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", ()))
        user = headers.get(b"x-test-user", b"").decode() or None
        tenant = headers.get(b"x-test-tenant", b"").decode() or None
        principal = Principal(subject=user, kind="user") if user else None
        with context_scope(tenant_id=tenant, principal=principal):
            await self.app(scope, receive, send)


class ItemIn(BaseModel):
    name: str
    qty: int = 1


def build_app(engine: Engine) -> FastAPI:
    """A small app whose handlers count their executions in ``engine.calls``."""
    app = FastAPI()
    install_error_handlers(app)
    install_idempotency(app, engine.manager)
    calls = engine.calls

    def bump(name: str) -> int:
        calls[name] = calls.get(name, 0) + 1
        return calls[name]

    @app.post("/items", status_code=201)
    async def create_item(
        body: ItemIn,
        request: Request,
        idem: Annotated[IdempotentRequest | None, Depends(IdempotencyKey(required=True))],
    ) -> dict[str, Any]:
        n = bump("items")
        if engine.gate is not None:
            await engine.gate.wait()
        return {"n": n, "name": body.name, "qty": body.qty, "key": idem.key if idem else None}

    @app.post("/other", status_code=201)
    async def other(
        body: ItemIn,
        idem: Annotated[IdempotentRequest | None, Depends(IdempotencyKey(required=True))],
    ) -> dict[str, Any]:
        return {"n": bump("other")}

    @app.put("/items", status_code=200)
    async def put_items(
        body: ItemIn,
        idem: Annotated[IdempotentRequest | None, Depends(IdempotencyKey(required=True))],
    ) -> dict[str, Any]:
        return {"n": bump("put")}

    @app.patch("/items/{item_id}")
    async def patch_item(
        item_id: int,
        body: ItemIn,
        idem: Annotated[IdempotentRequest | None, Depends(IdempotencyKey())],
    ) -> dict[str, Any]:
        return {"n": bump("patch"), "id": item_id}

    @app.post("/boom")
    async def boom(
        body: ItemIn,
        idem: Annotated[IdempotentRequest | None, Depends(IdempotencyKey(required=True))],
    ) -> None:
        bump("boom")
        msg = "internal detail"
        raise RuntimeError(msg)

    @app.post("/tx", status_code=201)
    async def transactional(
        body: ItemIn,
        idem: Annotated[IdempotentRequest | None, Depends(IdempotencyKey(required=True))],
    ) -> dict[str, Any]:
        assert engine.database is not None
        assert idem is not None
        n = bump("tx")
        out = {"n": n, "name": body.name}
        async with engine.database.transaction() as session:
            await idem.record_in(session, status_code=201, body=out, headers={"Location": "/x"})
            if body.name == "crash-after-commit":
                pass
        if body.name == "crash-after-commit":
            msg = "crashed after the commit"
            raise RuntimeError(msg)
        return out

    app.add_middleware(ErrorBoundaryMiddleware)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(ContextFromHeaders)
    return app


@pytest_asyncio.fixture
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of :func:`build_app` on ``engine`` (principal alice, tenant t1)."""
    transport = httpx.ASGITransport(app=build_app(engine), raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://test",
        headers={"x-test-user": "alice", "x-test-tenant": "t1"},
    ) as c:
        yield c


Factory = Callable[[Engine], FastAPI]
