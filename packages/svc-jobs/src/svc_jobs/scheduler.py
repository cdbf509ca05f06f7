"""Schedules on taskiq's scheduler, firing once per tick however many replicas run.

Schedules come from two taskiq schedule sources: the code (``schedule()`` /
``JobRegistry.periodic``) and, on the production profile, taskiq-redis'
:class:`~taskiq_redis.RedisScheduleSource` (schedules added at run time). taskiq's own
loop (:class:`taskiq.cli.scheduler.run.SchedulerLoop`) decides when a schedule is due;
:class:`ClaimingScheduler` then claims the *tick* in the key-value store
(``SET NX`` on ``jobs:tick:<schedule>:<tick>``) so only one replica enqueues it. A tick
is the cron minute, or the interval bucket ``floor(epoch / interval)``.

Missed runs (no scheduler was running): ``skip`` (taskiq's behaviour) or ``once`` —
at start, a cron schedule whose last run is older than its previous due time runs once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from taskiq.abc.schedule_source import ScheduleSource
from taskiq.cli.scheduler.run import SchedulerLoop
from taskiq.scheduler.scheduled_task import ScheduledTask
from taskiq.scheduler.scheduler import TaskiqScheduler

if TYPE_CHECKING:
    from svc_jobs.registry import JobRegistry, ScheduleSpec
    from svc_jobs.runtime import Jobs

__all__ = ["ClaimingScheduler", "RegistryScheduleSource", "run_scheduler", "tick_of"]

logger = logging.getLogger("svc_jobs.scheduler")


class RegistryScheduleSource(ScheduleSource):
    """The schedules declared in code, as a taskiq schedule source."""

    def __init__(self, registry: JobRegistry) -> None:
        self.registry = registry

    async def get_schedules(self) -> list[ScheduledTask]:
        """Every declared schedule."""
        return [
            ScheduledTask(
                task_name=s.job,
                labels={},
                args=[],
                kwargs=dict(s.payload),
                schedule_id=s.id,
                cron=s.cron,
                interval=s.interval,
            )
            for s in self.registry.schedules.values()
        ]


def tick_of(task: ScheduledTask, now: float) -> int:
    """The tick ``now`` belongs to: the cron minute or the interval bucket (epoch based)."""
    interval = task.interval
    if interval is not None and task.cron is None:
        seconds = interval.total_seconds() if isinstance(interval, timedelta) else float(interval)
        return int(now // max(1.0, seconds))
    return int(now // 60)


class ClaimingScheduler(TaskiqScheduler):
    """taskiq's scheduler, enqueueing through svc-jobs after a once-per-tick claim."""

    def __init__(self, jobs: Jobs, sources: list[ScheduleSource]) -> None:
        super().__init__(jobs.broker, sources)
        self.jobs = jobs
        self.owner = uuid.uuid4().hex
        self.fired = 0

    async def fire(self, task: ScheduledTask, tick: str) -> bool:
        """Enqueue ``task`` for ``tick`` unless another replica already did."""
        kv = self.jobs.runtime.kv
        interval = task.interval
        seconds = interval.total_seconds() if isinstance(interval, timedelta) else (interval or 60)
        ttl = max(120.0, 2 * float(seconds))
        won = await kv.set(f"jobs:tick:{task.schedule_id}:{tick}", self.owner, nx=True, ttl=ttl)
        if not won:
            return False
        await self.jobs.enqueue(
            task.task_name, dict(task.kwargs), job_id=f"sched-{task.schedule_id}-{tick}"
        )
        await kv.set(f"jobs:last:{task.schedule_id}", repr(time.time()), ttl=30 * 86400)
        await kv.incr(f"jobs:runs:{task.schedule_id}", ttl=30 * 86400)
        self.fired += 1
        return True

    async def on_ready(self, source: ScheduleSource, task: ScheduledTask) -> None:
        """Called by taskiq's loop when ``task`` is due."""
        try:
            await self.fire(task, str(tick_of(task, time.time())))
        except Exception:
            logger.exception("schedule %s could not be enqueued", task.schedule_id)

    async def catch_up(self, specs: list[ScheduleSpec], default: str) -> int:
        """Apply the ``once`` missed-run policy to cron schedules; returns runs fired."""
        from croniter import croniter  # type: ignore[import-untyped]

        fired = 0
        now = time.time()
        for spec in specs:
            if (spec.missed or default) != "once" or spec.cron is None:
                continue
            raw = await self.jobs.runtime.kv.get(f"jobs:last:{spec.id}")
            if raw is None:
                continue
            last = float(raw)
            due = croniter(spec.cron, datetime.fromtimestamp(last, UTC)).get_next(float)
            if due < now - (now % 60):
                task = ScheduledTask(
                    task_name=spec.job,
                    labels={},
                    args=[],
                    kwargs=dict(spec.payload),
                    schedule_id=spec.id,
                    cron=spec.cron,
                )
                if await self.fire(task, f"catchup-{int(due)}"):
                    fired += 1
        return fired


async def run_scheduler(
    jobs: Jobs, stop: asyncio.Event, *, sources: list[ScheduleSource] | None = None
) -> None:
    """Run taskiq's scheduler loop until ``stop`` is set."""
    chosen: list[ScheduleSource] = [RegistryScheduleSource(jobs.registry)]
    redis_url = jobs.redis_url
    if sources is not None:
        chosen = sources
    elif redis_url:
        from taskiq_redis import RedisScheduleSource

        prefix = f"{jobs.runtime.settings.redis_prefix}jobs:schedules"
        chosen.append(RedisScheduleSource(redis_url, prefix=prefix))
    for source in chosen:
        await source.startup()
    scheduler = ClaimingScheduler(jobs, chosen)
    await jobs.start()
    try:
        await scheduler.catch_up(
            list(jobs.registry.schedules.values()), jobs.jobs_settings.missed_runs
        )
        loop = SchedulerLoop(scheduler, event_loop=asyncio.get_running_loop())
        runner: asyncio.Task[Any] = asyncio.create_task(
            loop.run(update_interval=timedelta(seconds=30), send_timeout=10.0)
        )
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (runner, stopper):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    finally:
        for source in chosen:
            with contextlib.suppress(Exception):
                await source.shutdown()
