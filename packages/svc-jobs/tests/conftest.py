"""Fixtures of svc-jobs' tests: a jobs runtime on both profiles.

``env`` is parametrized ``embedded`` (SQLite file + MemoryKV + taskiq's in-memory
broker) | ``production`` (a fresh Postgres database + Redis under a unique prefix +
the Redis stream broker). ``env.make(registry, **settings)`` builds a
:class:`~svc_jobs.Jobs` on it; the schema comes from the package's own migration.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

from svc_jobs_testkit import migrate

from svc_core.kv import KV, MemoryKV
from svc_core.plugin import Runtime
from svc_core.settings import SvcSettings
from svc_core.sql import Database
from svc_core.testing.backends import database_url_or_skip, redis_url_or_skip, run_id
from svc_core.testing.sql_fixtures import fresh_postgres_database
from svc_jobs import Jobs, JobsSettings
from svc_jobs.registry import JobRegistry


@dataclass
class Env:
    """One backend profile for a test."""

    name: str
    settings: SvcSettings
    kv: KV
    database: Database
    made: list[Jobs] = field(default_factory=list)

    @property
    def production(self) -> bool:
        return self.name == "production"

    def make(self, registry: JobRegistry, **overrides: Any) -> Jobs:
        """A Jobs runtime over this backend (closed by the fixture)."""
        js = JobsSettings(**{"visibility_timeout": 5.0, "delayed_poll": 0.05, **overrides})
        jobs = Jobs(
            Runtime(settings=self.settings, kv=self.kv, database=self.database),
            js,
            registry=registry,
        )
        self.made.append(jobs)
        return jobs


async def _cleanup_redis(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        keys = [
            k async for k in client.scan_iter(match=prefix.replace("{", "\\{") + "*", count=500)
        ]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest_asyncio.fixture(params=["embedded", "production"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    """SQLite + memory, or fresh Postgres + Redis under a unique prefix."""
    prefix = f"svc-test:{run_id()}:{uuid.uuid4().hex}:"
    if request.param == "embedded":
        url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
        await migrate(url)
        settings = SvcSettings(
            database_url=None, redis_url=None, redis_prefix=prefix, data_dir=tmp_path
        )
        kv: KV = MemoryKV(prefix)
        database = Database(url)
        e = Env("embedded", settings, kv, database)
        try:
            yield e
        finally:
            for jobs in e.made:
                await jobs.stop()
            await kv.aclose()
            await database.aclose()
        return
    from svc_core.kv import RedisKV

    redis_url = redis_url_or_skip()
    async with fresh_postgres_database(database_url_or_skip()) as url:
        await migrate(url)
        settings = SvcSettings(database_url=url, redis_url=redis_url, redis_prefix=prefix)
        kv = RedisKV(redis_url, prefix, timeout=5.0, max_connections=16)
        database = Database(url)
        e = Env("production", settings, kv, database)
        try:
            yield e
        finally:
            for jobs in e.made:
                await jobs.stop()
            await kv.aclose()
            await database.aclose()
            await _cleanup_redis(redis_url, prefix)
