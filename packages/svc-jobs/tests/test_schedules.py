"""Schedules: once per tick across replicas, interval and cron, missed runs (both profiles)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from svc_core.errors import ConfigurationError
from svc_jobs.registry import JobRegistry
from svc_jobs.scheduler import ClaimingScheduler, RegistryScheduleSource, run_scheduler, tick_of

if TYPE_CHECKING:
    from conftest import Env  # type: ignore[import-not-found]


async def test_three_replicas_fire_each_tick_once(env: Env) -> None:
    """Three scheduler replicas on one 1-second schedule: one enqueue per tick."""
    reg = JobRegistry()
    runs: list[float] = []

    @reg.job("s.beat")
    async def beat() -> None:
        runs.append(time.time())

    reg.schedule("s.beat", every=1, id="beat")
    replicas = [env.make(reg) for _ in range(3)]
    worker = replicas[0]
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_scheduler(j, stop, sources=[RegistryScheduleSource(reg)]))
        for j in replicas
    ]
    if env.production:
        tasks.append(asyncio.create_task(worker.work(stop)))
    await asyncio.sleep(3.6)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    # ~3-4 ticks in 3.6 s; three replicas without the claim would give 9-12.
    assert 2 <= len(runs) <= 5
    buckets = [int(t) for t in runs]
    assert len(set(buckets)) >= len(runs) - 1  # at most one run per second (± edge)
    raw = await env.kv.get("jobs:runs:beat")
    assert raw is not None
    assert int(raw) == len(runs)


async def test_the_claim_is_per_tick(env: Env) -> None:
    reg = JobRegistry()

    @reg.job("s.once")
    async def once() -> None:
        return None

    reg.schedule("s.once", cron="*/5 * * * *", id="five")
    jobs_a, jobs_b = env.make(reg), env.make(reg)
    await jobs_a.start()
    await jobs_b.start()
    source = RegistryScheduleSource(reg)
    (task,) = await source.get_schedules()
    a, b = ClaimingScheduler(jobs_a, [source]), ClaimingScheduler(jobs_b, [source])
    assert await a.fire(task, "100") is True
    assert await b.fire(task, "100") is False
    assert await b.fire(task, "101") is True
    assert tick_of(task, 120.0) == tick_of(task, 179.9) == 2


async def test_missed_run_policy(env: Env) -> None:
    """``once``: a cron schedule whose last run is older than its previous due time runs once."""
    reg = JobRegistry()

    @reg.job("s.daily")
    async def daily() -> None:
        return None

    skip = reg.schedule("s.daily", cron="0 3 * * *", id="skip-me", missed="skip")
    catch = reg.schedule("s.daily", cron="0 3 * * *", id="catch-me", missed="once")
    jobs = env.make(reg)
    await jobs.start()
    two_days_ago = time.time() - 2 * 86400
    for sid in ("skip-me", "catch-me"):
        await env.kv.set(f"jobs:last:{sid}", repr(two_days_ago))
    sched = ClaimingScheduler(jobs, [RegistryScheduleSource(reg)])
    assert await sched.catch_up([skip, catch], "skip") == 1  # only the 'once' schedule
    assert await sched.catch_up([skip, catch], "skip") == 0  # and only once
    assert (
        datetime.fromtimestamp(float(await env.kv.get("jobs:last:catch-me") or 0), UTC).date()
        == datetime.now(UTC).date()
    )


def test_schedule_declarations_are_checked() -> None:
    reg = JobRegistry()
    with pytest.raises(ConfigurationError):
        reg.schedule("x", cron="not a cron")
    with pytest.raises(ConfigurationError):
        reg.schedule("x", every=0.5)
    with pytest.raises(ConfigurationError):
        reg.schedule("x")
    with pytest.raises(ConfigurationError):
        reg.schedule("x", every=5, cron="* * * * *")


async def test_periodic_registers_a_callable_as_job_and_schedule(env: Env) -> None:
    """The hook svc-infra uses to run another package's callable (outbox relay) on a schedule."""
    reg = JobRegistry()
    calls: list[int] = []

    async def relay_once() -> None:
        calls.append(1)

    reg.periodic("outbox.relay", every=1)(relay_once)
    assert "outbox.relay" in reg.jobs
    assert reg.schedules["outbox.relay"].interval == 1
    jobs = env.make(reg)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(run_scheduler(jobs, stop, sources=[RegistryScheduleSource(reg)]))]
    if env.production:
        tasks.append(asyncio.create_task(jobs.work(stop)))
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    assert calls
