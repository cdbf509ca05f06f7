"""Wiring between packages that must not import each other.

svc-idempotency's transactional outbox and svc-jobs' scheduler sit on the same layer, so
neither may import the other; svc-infra, above both, joins them:

* :func:`wire_outbox_relay` — when both are installed, the job
  :data:`OUTBOX_RELAY_JOB` runs one outbox relay batch every second (scheduled, so it
  fires once per tick however many scheduler replicas run). Each outbox event is
  published by enqueueing the job named by the event's ``topic`` with the event's
  ``payload``, using the event id as a unique job id: an event relayed twice after a
  crash is enqueued once. An event whose topic names no job fails, is retried with
  backoff by the relay and ends ``dead`` (visible with ``svc-infra idempotency dead``).

A service that leaves the idempotency plugin out (``create_app(plugins=[...])``) has no
outbox table; the tick then does nothing.

``create_app()`` and the ``svc-infra`` CLI (hence ``svc-infra jobs worker`` and
``svc-infra jobs scheduler``) call it, so the API process, the workers and the schedulers
agree on the job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svc_jobs import JobRegistry

__all__ = ["OUTBOX_RELAY_JOB", "wire_outbox_relay"]

#: Name of the scheduled job that relays the outbox.
OUTBOX_RELAY_JOB = "svc.outbox.relay"


def wire_outbox_relay(registry: JobRegistry | None = None, *, every: float = 1.0) -> bool:
    """Schedule the outbox relay as a job when svc-idempotency and svc-jobs are installed.

    Args:
        registry: The job registry (default: svc-jobs' ``DEFAULT_REGISTRY``).
        every: Seconds between relay ticks.

    Returns:
        ``True`` when the job is (now, or already) registered; ``False`` when either
        package is missing.
    """
    try:
        from svc_idempotency import CallbackPublisher, OutboxEvent, OutboxRelay
        from svc_jobs import DEFAULT_REGISTRY, current_runtime, jobs_of
    except ImportError:
        return False
    chosen = registry if registry is not None else DEFAULT_REGISTRY
    if OUTBOX_RELAY_JOB in chosen.jobs:
        return True

    async def relay_outbox() -> None:
        runtime = current_runtime()
        if runtime.plugins and not any(p.name == "idempotency" for p in runtime.plugins):
            return  # this service left svc-idempotency out: it has no outbox to relay
        jobs = jobs_of(runtime)

        async def publish(event: OutboxEvent) -> None:
            payload: Any = event.payload
            await jobs.enqueue(event.topic, payload, job_id=str(event.id), unique=True)

        await OutboxRelay(runtime.database, CallbackPublisher(publish)).run_once()

    chosen.periodic(OUTBOX_RELAY_JOB, every=every)(relay_outbox)
    return True
