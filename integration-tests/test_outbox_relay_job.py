"""svc-idempotency's outbox relayed by a svc-jobs schedule, wired by svc-infra.

An event added to the outbox in a business transaction reaches the job its topic names,
exactly once, without the two packages importing each other.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from svc_core.settings import SvcSettings
from svc_idempotency import outbox
from svc_infra import create_app
from svc_infra.wiring import OUTBOX_RELAY_JOB, wire_outbox_relay
from svc_jobs import DEFAULT_REGISTRY

RECEIVED: list[dict[str, Any]] = []
TARGET = "it.outbox.target"

if TARGET not in DEFAULT_REGISTRY.jobs:

    @DEFAULT_REGISTRY.job(TARGET)
    async def _target(order: str) -> None:
        RECEIVED.append({"order": order})


def test_wiring_registers_one_scheduled_job() -> None:
    assert wire_outbox_relay()
    assert wire_outbox_relay()  # idempotent
    assert OUTBOX_RELAY_JOB in DEFAULT_REGISTRY.jobs
    assert any(s.job == OUTBOX_RELAY_JOB for s in DEFAULT_REGISTRY.schedules.values())


async def test_outbox_event_reaches_its_job_once(tmp_path: Path) -> None:
    RECEIVED.clear()
    app = create_app(SvcSettings(data_dir=tmp_path, env="test"))
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        async with runtime.database.transaction() as session:
            await outbox.add(session, TARGET, {"order": "o-1"}, tenant_id="t-1")
        for _ in range(150):  # bounded: at most ~15 s
            if RECEIVED:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.5)  # two more relay ticks: nothing is sent twice
    assert RECEIVED == [{"order": "o-1"}]
