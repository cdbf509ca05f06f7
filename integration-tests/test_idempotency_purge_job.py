"""svc-idempotency's expired SQL rows purged by a svc-jobs schedule, wired by svc-infra.

A service built by ``create_app()`` schedules ``svc.idempotency.purge``; when it runs it
deletes expired idempotency records and inbox marks and keeps the live ones, on SQLite
and Postgres, without svc-idempotency and svc-jobs importing each other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from svc_core.settings import SvcSettings
from svc_idempotency import IdempotencySettings, SqlIdempotencyStore, SqlInbox, StoredResponse
from svc_idempotency.models import IdempotencyRecord, InboxMessage
from svc_infra import create_app
from svc_infra.wiring import IDEMPOTENCY_PURGE_JOB, wire_idempotency_purge
from svc_jobs import DEFAULT_REGISTRY, JobRegistry

RESPONSE = StoredResponse(fingerprint="f" * 64, status=201, headers=(), body=b"{}")


def test_wiring_registers_one_scheduled_job() -> None:
    assert wire_idempotency_purge()
    assert wire_idempotency_purge()  # idempotent
    assert IDEMPOTENCY_PURGE_JOB in DEFAULT_REGISTRY.jobs
    schedule = DEFAULT_REGISTRY.schedules[IDEMPOTENCY_PURGE_JOB]
    assert schedule.job == IDEMPOTENCY_PURGE_JOB
    assert schedule.interval == IdempotencySettings().purge_every


def test_the_interval_comes_from_the_settings_and_zero_disables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SVC_IDEMPOTENCY__PURGE_EVERY", "600")
    registry = JobRegistry()
    assert wire_idempotency_purge(registry)
    assert registry.schedules[IDEMPOTENCY_PURGE_JOB].interval == 600

    monkeypatch.setenv("SVC_IDEMPOTENCY__PURGE_EVERY", "0")
    disabled = JobRegistry()
    assert not wire_idempotency_purge(disabled)
    assert disabled.jobs == {}
    assert disabled.schedules == {}

    explicit = JobRegistry()
    assert wire_idempotency_purge(explicit, every=60)  # an explicit interval wins
    assert explicit.schedules[IDEMPOTENCY_PURGE_JOB].interval == 60


async def test_the_scheduled_purge_deletes_expired_rows_and_keeps_live_ones(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = SvcSettings(data_dir=tmp_path, env="test", database_url=database_url)
    app = create_app(settings, migrate=True)
    caplog.set_level(logging.INFO, logger="svc_infra.wiring")
    async with app.router.lifespan_context(app):
        jobs = app.state.svc_jobs
        assert IDEMPOTENCY_PURGE_JOB in jobs.registry.schedules  # the app schedules it
        db = app.state.runtime.database
        past = time.time() - 7200  # rows written two hours ago, kept for a minute
        async with db.transaction() as session:
            for i in range(3):
                old = SqlIdempotencyStore(db, clock=lambda: past)
                assert await old.put_in(session, f"old-{i}", RESPONSE, 60)
                assert await SqlInbox(db, ttl=60, clock=lambda: past).mark(session, "c", f"m{i}")
            assert await SqlIdempotencyStore(db).put_in(session, "live", RESPONSE, 3600)
            assert await SqlInbox(db, ttl=3600).mark(session, "c", "live")
        store, inbox = SqlIdempotencyStore(db), SqlInbox(db)

        # The schedule's next tick is up to an hour away (its first one ran at start-up):
        # run the job now, through the app's own job runner, as a tick would.
        await jobs.enqueue(IDEMPOTENCY_PURGE_JOB)
        for _ in range(100):  # bounded: at most ~10 s
            if not (await store.expired_count() or await inbox.expired_count()):
                break
            await asyncio.sleep(0.1)

        async with db.session() as session:
            records = set((await session.execute(select(IdempotencyRecord.scope))).scalars())
            marks = set((await session.execute(select(InboxMessage.message_id))).scalars())
    assert (records, marks) == ({"live"}, {"live"})
    assert any(
        r.name == "svc_infra.wiring" and r.levelno == logging.INFO and "purged" in r.message
        for r in caplog.records
    )
