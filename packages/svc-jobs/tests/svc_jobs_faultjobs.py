"""Jobs the fault tests run in separate worker processes (``--app svc_jobs_faultjobs``).

Each writes to an effect ledger in the worker's database: ``started`` gets a row per
execution, ``ledger`` one row per job id (``ON CONFLICT DO NOTHING``: the idempotent
consumer), so a redelivered job is visible in ``started`` and applied once in ``ledger``.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from svc_jobs import current_runtime, job

LEDGER_DDL = (
    "CREATE TABLE IF NOT EXISTS ledger (job_id VARCHAR(64) PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS started (job_id VARCHAR(64) NOT NULL)",
)


@job("fault.work", max_attempts=3, backoff_base=0.1)
async def work(id: str, sleep: float = 0.0, mark: bool = True) -> None:  # noqa: A002 - payload key
    """Mark the start, sleep, then apply the effect once."""
    database = current_runtime().database
    if mark:
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO started (job_id) VALUES (:i)"), {"i": id})
    if sleep:
        await asyncio.sleep(sleep)
    async with database.transaction() as session:
        await session.execute(
            text("INSERT INTO ledger (job_id) VALUES (:i) ON CONFLICT (job_id) DO NOTHING"),
            {"i": id},
        )
