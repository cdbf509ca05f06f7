"""Job and schedule declarations: :func:`job`, :class:`RetryPolicy`, :class:`JobRegistry`.

A job is a plain async (or sync) function registered under a stable name::

    @job("reports.render", max_attempts=3, retry_on=(TimeoutError,), track=True)
    async def render(payload: RenderPayload) -> dict[str, str]:
        ...

Declaring a job does no I/O and needs no broker: the registry is read when a
:class:`~svc_jobs.Jobs` runtime starts (the API process to enqueue, the worker to run).
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from svc_core.errors import ConfigurationError

__all__ = [
    "DEFAULT_REGISTRY",
    "JobRegistry",
    "JobSpec",
    "RetryPolicy",
    "ScheduleSpec",
    "job",
    "schedule",
]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failing job is retried before it is dead-lettered.

    Attributes:
        max_attempts: Total attempts, the first included (1 = never retried).
        backoff_base: Delay before the second attempt, in seconds.
        backoff_max: Upper bound of any delay.
        jitter: Fraction of each delay that is randomised (0 = none, 1 = "full jitter").
        retry_on: Exception types that are retried; any other goes to the DLQ at once.
    """

    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    jitter: float = 0.5
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            msg = "max_attempts must be >= 1"
            raise ConfigurationError(msg)
        if not 0 <= self.jitter <= 1:
            msg = "jitter must be between 0 and 1"
            raise ConfigurationError(msg)

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before attempt ``attempt + 1`` after attempt ``attempt`` failed.

        Exponential: ``base * 2**(attempt-1)`` capped at ``backoff_max``; the last
        ``jitter`` fraction of it is drawn uniformly, so the delay lies in
        ``[d * (1 - jitter), d]``.
        """
        raw = min(self.backoff_max, self.backoff_base * (2 ** max(0, attempt - 1)))
        return float(raw * (1 - self.jitter) + raw * self.jitter * rng())

    def retries(self, exc: BaseException) -> bool:
        """Whether ``exc`` is one this policy retries."""
        return isinstance(exc, self.retry_on)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One registered job.

    Attributes:
        name: The task name on the wire (stable across deploys).
        func: The function the worker calls.
        retry: Its retry policy (``None``: the settings' defaults).
        track: Keep queued/running/succeeded/failed/dead state in SQL (``GET /jobs/{id}``).
        timeout: Seconds one attempt may run (``None``: unbounded).
        payload_model: The pydantic model of the ``payload`` parameter, if annotated.
        takes_payload: Whether the function has a ``payload`` parameter (else the
            payload's keys are passed as keyword arguments).
    """

    name: str
    func: Callable[..., Any]
    retry: RetryPolicy | None = None
    track: bool = False
    timeout: float | None = None
    payload_model: type[BaseModel] | None = None
    takes_payload: bool = False


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A recurring run of a job or of a plain callable.

    Attributes:
        id: Stable schedule id (the once-per-tick claim is keyed on it).
        job: The job name to enqueue on each tick.
        cron: A 5-field cron expression (UTC), or ``None``.
        interval: Seconds between runs (whole seconds, ≥ 1), or ``None``.
        payload: The payload each run receives.
        missed: Missed-run policy for this schedule (``None``: the settings' default).
    """

    id: str
    job: str
    cron: str | None = None
    interval: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    missed: Literal["skip", "once"] | None = None


def _payload_model(func: Callable[..., Any]) -> type[BaseModel] | None:
    try:
        hints = inspect.get_annotations(func, eval_str=True)
    except Exception:  # noqa: BLE001 - unresolvable annotations: no typed payload
        return None
    ann = hints.get("payload")
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    return None


class JobRegistry:
    """Jobs and schedules known to a service. :data:`DEFAULT_REGISTRY` is the usual one."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobSpec] = {}
        self.schedules: dict[str, ScheduleSpec] = {}

    def job(
        self,
        name: str,
        *,
        max_attempts: int | None = None,
        backoff_base: float | None = None,
        backoff_max: float | None = None,
        jitter: float = 0.5,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        track: bool = False,
        timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function as job ``name`` (see :func:`job`)."""

        def decorate(func: F) -> F:
            retry = None
            if max_attempts is not None or backoff_base is not None or backoff_max is not None:
                retry = RetryPolicy(
                    max_attempts=max_attempts if max_attempts is not None else 5,
                    backoff_base=backoff_base if backoff_base is not None else 1.0,
                    backoff_max=backoff_max if backoff_max is not None else 300.0,
                    jitter=jitter,
                    retry_on=retry_on,
                )
            elif retry_on != (Exception,) or jitter != 0.5:
                retry = RetryPolicy(jitter=jitter, retry_on=retry_on)
            self.add(
                JobSpec(
                    name=name,
                    func=func,
                    retry=retry,
                    track=track,
                    timeout=timeout,
                    payload_model=_payload_model(func),
                    takes_payload="payload" in inspect.signature(func).parameters,
                )
            )
            return func

        return decorate

    def add(self, spec: JobSpec) -> None:
        """Register ``spec``; re-registering the same function is a no-op."""
        found = self.jobs.get(spec.name)
        if found is not None and found.func is not spec.func:
            qual = getattr(found.func, "__qualname__", found.func)
            msg = f"job {spec.name!r} is already registered by {qual}"
            raise ConfigurationError(msg)
        self.jobs[spec.name] = spec

    def schedule(
        self,
        job_name: str,
        *,
        cron: str | None = None,
        every: float | timedelta | None = None,
        payload: dict[str, Any] | None = None,
        id: str | None = None,  # noqa: A002 - the natural name
        missed: Literal["skip", "once"] | None = None,
    ) -> ScheduleSpec:
        """Run job ``job_name`` on a cron expression or every ``every`` seconds.

        Raises:
            ConfigurationError: Neither or both of ``cron`` and ``every``; an interval
                under one second or not whole.
        """
        if (cron is None) == (every is None):
            msg = "a schedule needs exactly one of cron= or every="
            raise ConfigurationError(msg)
        interval: int | None = None
        if every is not None:
            seconds = every.total_seconds() if isinstance(every, timedelta) else float(every)
            if seconds < 1 or seconds != int(seconds):
                msg = "every= must be a whole number of seconds >= 1"
                raise ConfigurationError(msg)
            interval = int(seconds)
        if cron is not None:
            from croniter import croniter  # type: ignore[import-untyped]

            if not croniter.is_valid(cron):
                msg = f"invalid cron expression {cron!r}"
                raise ConfigurationError(msg)
        sid = id or f"{job_name}:{cron or interval}"
        spec = ScheduleSpec(
            id=sid, job=job_name, cron=cron, interval=interval, payload=payload or {}, missed=missed
        )
        self.schedules[sid] = spec
        return spec

    def periodic(
        self,
        name: str,
        *,
        cron: str | None = None,
        every: float | timedelta | None = None,
        max_attempts: int = 1,
    ) -> Callable[[F], F]:
        """Register a no-argument callable as a job *and* schedule it.

        The hook other packages' wiring uses, e.g. svc-infra running svc-idempotency's
        outbox relay every second::

            registry.periodic("outbox.relay", every=1)(relay.run_once)
        """

        def decorate(func: F) -> F:
            self.job(name, max_attempts=max_attempts)(func)
            self.schedule(name, cron=cron, every=every, id=name)
            return func

        return decorate


#: The registry :func:`job` and :func:`schedule` write to.
DEFAULT_REGISTRY = JobRegistry()

job = DEFAULT_REGISTRY.job
schedule = DEFAULT_REGISTRY.schedule
