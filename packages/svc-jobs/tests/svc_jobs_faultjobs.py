"""Jobs the fault tests run in separate worker processes (``--app svc_jobs_faultjobs``).

Each counts its executions in the worker's key-value store (``started:<id>``, Redis)
and applies its effect to a ledger in the worker's database, one row per job id
(``ON CONFLICT DO NOTHING``: the idempotent consumer). A redelivered job is visible in
the execution count and applied once in the ledger.
"""

from __future__ import annotations

import asyncio
import os
import signal

from sqlalchemy import text

from svc_jobs import current_runtime, job

LEDGER_DDL = ("CREATE TABLE IF NOT EXISTS ledger (job_id VARCHAR(64) PRIMARY KEY)",)


@job("fault.work", max_attempts=3, backoff_base=0.1)
async def work(id: str, sleep: float = 0.0, mark: bool = True) -> None:  # noqa: A002 - payload key
    """Mark the start, sleep, then apply the effect once."""
    runtime = current_runtime()
    database = runtime.database
    if mark:
        await runtime.kv.incr(f"started:{id}")
    if sleep:
        await asyncio.sleep(sleep)
    async with database.transaction() as session:
        await session.execute(
            text("INSERT INTO ledger (job_id) VALUES (:i) ON CONFLICT (job_id) DO NOTHING"),
            {"i": id},
        )


@job("fault.crash", max_attempts=3)
async def crash(id: str) -> None:  # noqa: A002 - payload key
    """Count the start, then take the worker process down (a segfault, the OOM killer)."""
    await current_runtime().kv.incr(f"started:{id}")
    os.kill(os.getpid(), signal.SIGKILL)
