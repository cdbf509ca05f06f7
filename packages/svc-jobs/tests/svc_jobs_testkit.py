"""Helpers shared by svc-jobs' tests (on ``sys.path`` through ``conftest.py``)."""

from __future__ import annotations

from svc_core.sql import MigrationSource, Migrator


async def migrate(url: str) -> None:
    """Apply the ``jobs`` branch to ``url``."""
    source = MigrationSource.for_package("jobs", "svc_jobs", models=("svc_jobs.models",))
    async with Migrator(url, [source]) as migrator:
        await migrator.upgrade("heads")
