"""Prometheus metrics of svc-jobs (multiprocess-safe through prometheus-client).

=========================================== ==========================================
``svc_jobs_enqueued_total{job}``            jobs accepted by the broker
``svc_jobs_started_total{job}``             attempts started
``svc_jobs_succeeded_total{job}``           attempts that returned
``svc_jobs_failed_total{job}``              attempts that raised
``svc_jobs_retried_total{job}``             failures scheduled for another attempt
``svc_jobs_dead_lettered_total{reason}``    messages moved to the DLQ
``svc_jobs_reclaimed_total``                entries reclaimed from a dead consumer
``svc_jobs_lease_lost_total{job}``          leases lost while running (possible duplicate)
``svc_jobs_queue_depth{queue}``             entries waiting or in flight (+ delayed)
``svc_jobs_duration_seconds{job}``          attempt durations
=========================================== ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "DEAD_LETTERED",
    "DURATION",
    "ENQUEUED",
    "FAILED",
    "LEASE_LOST",
    "QUEUE_DEPTH",
    "RECLAIMED",
    "RETRIED",
    "STARTED",
    "SUCCEEDED",
    "JobMetrics",
    "for_job",
]

ENQUEUED = Counter("svc_jobs_enqueued", "Jobs accepted by the broker.", ["job"])
STARTED = Counter("svc_jobs_started", "Job attempts started.", ["job"])
SUCCEEDED = Counter("svc_jobs_succeeded", "Job attempts that succeeded.", ["job"])
FAILED = Counter("svc_jobs_failed", "Job attempts that raised.", ["job"])
RETRIED = Counter("svc_jobs_retried", "Failed attempts scheduled for a retry.", ["job"])
DEAD_LETTERED = Counter(
    "svc_jobs_dead_lettered", "Messages moved to the dead-letter queue.", ["reason"]
)
RECLAIMED = Counter("svc_jobs_reclaimed", "Stream entries reclaimed from an idle consumer.")
LEASE_LOST = Counter(
    "svc_jobs_lease_lost",
    "Running jobs whose lease another worker took (possible duplicate).",
    ["job"],
)
QUEUE_DEPTH = Gauge(
    "svc_jobs_queue_depth",
    "Jobs waiting, in flight or delayed.",
    ["queue"],
    multiprocess_mode="livemax",
)
DURATION = Histogram(
    "svc_jobs_duration_seconds",
    "Duration of job attempts.",
    ["job"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


@dataclass(frozen=True, slots=True)
class JobMetrics:
    """The labelled children of one job name (looked up once, not per job)."""

    enqueued: Any
    started: Any
    succeeded: Any
    failed: Any
    retried: Any
    duration: Any


_CHILDREN: dict[str, JobMetrics] = {}


def for_job(name: str) -> JobMetrics:
    """The metrics of job ``name``."""
    found = _CHILDREN.get(name)
    if found is None:
        found = JobMetrics(
            ENQUEUED.labels(name),
            STARTED.labels(name),
            SUCCEEDED.labels(name),
            FAILED.labels(name),
            RETRIED.labels(name),
            DURATION.labels(name),
        )
        _CHILDREN[name] = found
    return found
