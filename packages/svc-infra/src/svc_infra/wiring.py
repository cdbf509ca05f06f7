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
* :func:`wire_idempotency_purge` — when both are installed, the job
  :data:`IDEMPOTENCY_PURGE_JOB` deletes expired SQL idempotency records
  (``svc_idempotency_records``) and inbox marks (``svc_inbox``) every
  ``SVC_IDEMPOTENCY__PURGE_EVERY`` seconds (3600; ``0`` schedules nothing). A tick deletes
  in batches of ``SVC_IDEMPOTENCY__PURGE_BATCH_SIZE`` rows (1000), each its own short
  transaction, and at most ``SVC_IDEMPOTENCY__PURGE_MAX_BATCHES`` batches (100) per table,
  so one tick never runs unbounded; a backlog is worked off over several ticks. It logs
  the counts at INFO when it deleted something.

A service that leaves the idempotency plugin out (``create_app(plugins=[...])``) has no
outbox, records or inbox tables; the ticks then do nothing.

``create_app()`` and the ``svc-infra`` CLI (hence ``svc-infra jobs worker`` and
``svc-infra jobs scheduler``) call both, so the API process, the workers and the
schedulers agree on the jobs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svc_jobs import JobRegistry

__all__ = [
    "IDEMPOTENCY_PURGE_JOB",
    "OUTBOX_RELAY_JOB",
    "wire_idempotency_purge",
    "wire_outbox_relay",
]

logger = logging.getLogger("svc_infra.wiring")

#: Name of the scheduled job that relays the outbox.
OUTBOX_RELAY_JOB = "svc.outbox.relay"

#: Name of the scheduled job that purges expired idempotency records and inbox marks.
IDEMPOTENCY_PURGE_JOB = "svc.idempotency.purge"


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


def wire_idempotency_purge(
    registry: JobRegistry | None = None, *, every: float | None = None
) -> bool:
    """Schedule the purge of expired SQL idempotency records and inbox marks as a job.

    Each tick runs ``purge_expired`` of :class:`~svc_idempotency.SqlIdempotencyStore` and
    :class:`~svc_idempotency.SqlInbox` on the service's database, with the batch size and
    the per-table batch limit of svc-idempotency's settings (read when the tick runs).

    Args:
        registry: The job registry (default: svc-jobs' ``DEFAULT_REGISTRY``).
        every: Whole seconds between ticks; ``None`` reads ``SVC_IDEMPOTENCY__PURGE_EVERY``
            (default 3600). ``0`` schedules nothing.

    Returns:
        ``True`` when the job is (now, or already) registered; ``False`` when either
        package is missing or the purge is disabled (``every`` is ``0``).
    """
    try:
        from svc_idempotency import IdempotencySettings, SqlIdempotencyStore, SqlInbox
        from svc_jobs import DEFAULT_REGISTRY, current_runtime
    except ImportError:
        return False
    chosen = registry if registry is not None else DEFAULT_REGISTRY
    if IDEMPOTENCY_PURGE_JOB in chosen.jobs:
        return True
    interval = every if every is not None else IdempotencySettings().purge_every
    if interval <= 0:
        return False

    async def purge_idempotency() -> None:
        runtime = current_runtime()
        if runtime.plugins and not any(p.name == "idempotency" for p in runtime.plugins):
            return  # this service left svc-idempotency out: it has no such tables
        settings = IdempotencySettings()
        size, most = settings.purge_batch_size, settings.purge_max_batches
        records = await SqlIdempotencyStore(runtime.database).purge_expired(
            batch_size=size, max_batches=most
        )
        marks = await SqlInbox(runtime.database).purge_expired(batch_size=size, max_batches=most)
        if records or marks:
            logger.info(
                "purged %d expired idempotency record(s) and %d inbox mark(s)", records, marks
            )

    chosen.periodic(IDEMPOTENCY_PURGE_JOB, every=interval)(purge_idempotency)
    return True
