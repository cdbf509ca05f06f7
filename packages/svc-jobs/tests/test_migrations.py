"""The ``jobs`` branch: upgrade, no drift against the models, downgrade (SQLite and Postgres)."""

from __future__ import annotations

from svc_core.sql import MigrationSource, Migrator
from svc_jobs import JobsPlugin


async def test_jobs_branch_matches_the_models(database_url: str) -> None:
    source = JobsPlugin().migrations()
    assert isinstance(source, MigrationSource)
    assert source.name == "jobs"
    async with Migrator(database_url, [source]) as migrator:
        applied = await migrator.upgrade("heads")
        assert len(applied) == 1
        assert await migrator.check() == []
        assert await migrator.pending() == []
        await migrator.downgrade("base")
        assert len(await migrator.pending()) == 1
