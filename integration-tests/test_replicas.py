"""Two replicas of one service on shared Postgres and Redis (the production profile).

Nothing in the packages may keep state in one process that a second replica needs:
here two apps built by ``create_app`` share a claim through Redis and start together
on one database, where the advisory lock lets exactly one apply the migrations.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from svc_core.plugin import CorePlugin, Runtime
from svc_core.settings import SvcSettings
from svc_core.sql import MigrationSource
from svc_core.testing import redis_url_or_skip
from svc_infra import create_app, ensure_schema

VERSIONS = Path(__file__).parent / "migration_source" / "versions"


class _Widgets(CorePlugin):
    name = "widgets"

    def middleware(self, runtime: Runtime) -> list:  # type: ignore[type-arg]
        return []

    def migrations(self) -> MigrationSource:
        return MigrationSource("widgets", VERSIONS)


@pytest.fixture
def production(postgres_url: str, tmp_path: Path) -> SvcSettings:
    return SvcSettings(
        database_url=postgres_url,
        redis_url=redis_url_or_skip(),
        redis_prefix=f"svc-it:{uuid.uuid4().hex[:8]}:",
        data_dir=tmp_path,
    )


async def test_replicas_migrate_once_and_share_claims(production: SvcSettings) -> None:
    plugins = [CorePlugin(), _Widgets()]
    applied = await asyncio.gather(
        *(ensure_schema(production, plugins, migrate=True) for _ in range(3))
    )
    # Exactly one replica applied the revision; the others found nothing pending.
    assert sorted(len(a) for a in applied) == [0, 0, 1]

    first = create_app(production, plugins=plugins)
    second = create_app(production, plugins=plugins)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        rt1: Runtime = first.state.runtime
        rt2: Runtime = second.state.runtime
        assert rt1.kv.backend == rt2.kv.backend == "redis"
        assert await rt1.kv.claim("job:42", "replica-1", 5)
        assert not await rt2.kv.claim("job:42", "replica-2", 5)
        assert not await rt2.kv.release("job:42", "replica-2")
        assert await rt1.kv.release("job:42", "replica-1")
        assert await rt2.kv.claim("job:42", "replica-2", 5)
        async with rt1.database.transaction() as session:
            await session.execute(text("INSERT INTO test_widgets (name) VALUES ('w')"))
        async with rt2.database.session() as session:
            count = (await session.execute(text("SELECT count(*) FROM test_widgets"))).scalar()
        assert count == 1
        for app in (first, second):
            assert (await _get(app, "/nope")).status_code == 404


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)
