"""The Prometheus metrics svc-obs records, and how they are exposed.

Every metric lives in prometheus-client's default registry, so a package or an app
adds its own with plain ``prometheus_client.Counter(...)`` and they appear on
``/metrics`` beside these. Under several worker processes set
``PROMETHEUS_MULTIPROC_DIR`` (an empty directory shared by the workers) before the
workers start: every worker then writes its samples there and :func:`exposition`
aggregates them (prometheus-client's multiprocess mode).

================================================ ========= ===============================
name                                             type      labels
================================================ ========= ===============================
``http_server_requests_total``                   counter   method, route, status_code
``http_server_request_duration_seconds``         histogram method, route, status_code
``http_server_requests_in_flight``               gauge     (none)
``db_pool_connections_open``                     gauge     (none)
``db_pool_connections_in_use``                   gauge     (none)
``db_pool_size``                                 gauge     (none)
``db_pool_checkouts_total``                      counter   (none)
``circuit_breaker_state``                        gauge     breaker, state
``circuit_breaker_transitions_total``            counter   breaker, from_state, to_state
``circuit_breaker_calls_total``                  counter   breaker, outcome
``maintenance_mode``                             gauge     (none)
================================================ ========= ===============================
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "CONTENT_TYPE",
    "HTTP_BUCKETS",
    "UNMATCHED_ROUTE",
    "exposition",
    "instrument_pool",
    "multiprocess_dir",
]

#: Route label of a request that matched no route (never the raw path).
UNMATCHED_ROUTE: Final = "<unmatched>"
#: Upper bounds of the request duration histogram, in seconds.
HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Content type of the exposition.
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

REQUESTS = Counter(
    "http_server_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status_code"],
)
DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Time from the request's arrival to the end of its response, in seconds.",
    ["method", "route", "status_code"],
    buckets=HTTP_BUCKETS,
)
IN_FLIGHT = Gauge(
    "http_server_requests_in_flight",
    "HTTP requests being served right now.",
    multiprocess_mode="livesum",
)
POOL_OPEN = Gauge(
    "db_pool_connections_open",
    "Database connections the pool holds open.",
    multiprocess_mode="livesum",
)
POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "db_pool_size",
    "Configured size of the database pool (summed over worker processes).",
    multiprocess_mode="livesum",
)
POOL_CHECKOUTS = Counter(
    "db_pool_checkouts",
    "Connections checked out of the database pool.",
)
BREAKER_STATE = Gauge(
    "circuit_breaker_state",
    "1 for the state a circuit breaker was last seen in by this process, else 0.",
    ["breaker", "state"],
    multiprocess_mode="liveall",
)
BREAKER_TRANSITIONS = Counter(
    "circuit_breaker_transitions",
    "Circuit breaker state changes made by this service.",
    ["breaker", "from_state", "to_state"],
)
BREAKER_CALLS = Counter(
    "circuit_breaker_calls",
    "Calls through a circuit breaker, by outcome (success, failure, rejected).",
    ["breaker", "outcome"],
)
MAINTENANCE = Gauge(
    "maintenance_mode",
    "1 while this process answers 503 for maintenance, else 0.",
    multiprocess_mode="livemax",
)


def multiprocess_dir() -> str | None:
    """The prometheus-client multiprocess directory, or ``None`` in single-process mode."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> bytes:
    """The Prometheus text exposition of every metric (all workers in multiprocess mode)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


_INSTRUMENTED = "_svc_obs_pool_instrumented"


def instrument_pool(engine: AsyncEngine) -> None:
    """Keep the ``db_pool_*`` gauges up to date from ``engine``'s pool events.

    Idempotent: an engine is instrumented once.
    """
    from sqlalchemy import event

    sync = engine.sync_engine
    pool = sync.pool
    if getattr(pool, _INSTRUMENTED, False):
        return
    setattr(pool, _INSTRUMENTED, True)
    size = getattr(pool, "size", None)
    if callable(size):
        POOL_SIZE.inc(int(size()) + max(0, int(getattr(pool, "_max_overflow", 0))))

    def on_connect(*_args: Any) -> None:
        POOL_OPEN.inc()

    def on_close(*_args: Any) -> None:
        POOL_OPEN.dec()

    def on_checkout(*_args: Any) -> None:
        POOL_IN_USE.inc()
        POOL_CHECKOUTS.inc()

    def on_checkin(*_args: Any) -> None:
        POOL_IN_USE.dec()

    event.listen(sync, "connect", on_connect)
    event.listen(sync, "close", on_close)
    event.listen(sync, "close_detached", on_close)
    event.listen(sync, "checkout", on_checkout)
    event.listen(sync, "checkin", on_checkin)


def release_pool(engine: AsyncEngine) -> None:
    """Take back what :func:`instrument_pool` added to ``db_pool_size``."""
    pool = engine.sync_engine.pool
    if not getattr(pool, _INSTRUMENTED, False):
        return
    size = getattr(pool, "size", None)
    if callable(size):
        POOL_SIZE.dec(int(size()) + max(0, int(getattr(pool, "_max_overflow", 0))))
