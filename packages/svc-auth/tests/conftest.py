"""Fixtures of svc-auth's tests: an app with svc-auth installed, on both profiles.

``backend`` is parametrized ``embedded`` (SQLite file + MemoryKV on a frozen clock) |
``production`` (a fresh Postgres database + Redis under a unique prefix), through
svc-core's test helpers. ``make_app`` builds FastAPI apps on it with svc-auth installed
through :class:`svc_auth.Auth` (cheap argon2 parameters, dev mailbox, injectable clock).
Helpers live in ``svc_auth_testkit.py`` beside this file.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from svc_auth_testkit import (
    AppFactory,
    AuthClient,
    Backend,
    Clock,
    build_app,
    delete_prefix,
)

from svc_auth import TEST_PARAMS, Auth, AuthSettings, DevMailbox
from svc_core.kv import MemoryKV
from svc_core.settings import SvcSettings
from svc_core.sql import Database
from svc_core.testing.backends import database_url_or_skip, redis_url_or_skip, run_id
from svc_core.testing.sql_fixtures import fresh_postgres_database


@pytest_asyncio.fixture(params=["embedded", "production"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """SQLite + memory on a frozen clock, or fresh Postgres + Redis."""
    clock = Clock()
    namespace = f"svc-test:{run_id()}:{uuid.uuid4().hex}:"
    if request.param == "embedded":
        async with MemoryKV(namespace, clock=clock) as kv:
            yield Backend(
                "embedded", f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}", kv, clock, tmp_path
            )
        return
    from svc_core.kv import RedisKV

    redis_url = redis_url_or_skip()
    async with fresh_postgres_database(database_url_or_skip()) as url:
        kv = RedisKV(redis_url, namespace, timeout=5.0, max_connections=32)
        try:
            yield Backend("production", url, kv, clock, tmp_path)
        finally:
            await delete_prefix(kv, namespace)
            await kv.aclose()


@pytest_asyncio.fixture
async def make_app(backend: Backend) -> AsyncIterator[AppFactory]:
    """``await make_app(**auth_settings)`` → a started :class:`AuthClient` on ``backend``."""
    async with AsyncExitStack() as stack:

        async def factory(
            *, svc: dict[str, Any] | None = None, params: Any = TEST_PARAMS, **overrides: Any
        ) -> AuthClient:
            settings = SvcSettings(
                env="test", data_dir=backend.tmp / "data", service_name="svc-infra", **(svc or {})
            )
            database = Database(backend.url)
            stack.push_async_callback(database.aclose)
            mailbox = DevMailbox()
            auth = Auth(
                settings,
                auth_settings=AuthSettings(**overrides),
                kv=backend.kv,
                database=database,
                params=params,
                mailer=mailbox,
                clock=backend.clock,
            )
            app = build_app(auth)
            await stack.enter_async_context(_lifespan(auth, app))
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            )
            stack.push_async_callback(client.aclose)
            return AuthClient(app, auth, client, mailbox, backend.clock)

        yield factory


@asynccontextmanager
async def _lifespan(auth: Auth, app: FastAPI) -> AsyncIterator[None]:
    async with auth.lifespan(app):
        yield


@pytest_asyncio.fixture
async def api(make_app: AppFactory) -> AuthClient:
    """One app with default settings."""
    return await make_app()  # type: ignore[no-any-return]
