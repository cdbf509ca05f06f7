"""Prometheus metrics of svc-idempotency (default registry; multiprocess-safe modes).

Labels are route *templates* (never raw paths) and outbox topics, both bounded sets.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = [
    "CONFLICTS",
    "EXECUTIONS",
    "MISMATCHES",
    "OUTBOX_DEAD",
    "OUTBOX_DEPTH",
    "OUTBOX_FAILURES",
    "OUTBOX_LAG",
    "OUTBOX_PUBLISHED",
    "REPLAYS",
    "count",
]

REPLAYS = Counter(
    "idempotency_replays_total",
    "Requests answered from a stored response (Idempotent-Replayed: true).",
    ["method", "route"],
)
CONFLICTS = Counter(
    "idempotency_conflicts_total",
    "Requests refused with 409 because the same key was in flight.",
    ["method", "route"],
)
MISMATCHES = Counter(
    "idempotency_mismatches_total",
    "Requests refused with 422 because the key was used with a different request.",
    ["method", "route"],
)
EXECUTIONS = Counter(
    "idempotency_executions_total",
    "Requests with an Idempotency-Key that ran the handler (first attempts).",
    ["method", "route"],
)
OUTBOX_DEPTH = Gauge(
    "outbox_depth",
    "Outbox messages waiting to be published (pending, including retries).",
    multiprocess_mode="livemax",
)
OUTBOX_LAG = Gauge(
    "outbox_lag_seconds",
    "Age of the oldest pending outbox message.",
    multiprocess_mode="livemax",
)
OUTBOX_DEAD = Gauge(
    "outbox_dead",
    "Outbox messages that exhausted their attempts (status dead).",
    multiprocess_mode="livemax",
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox messages published.", ["topic"])
OUTBOX_FAILURES = Counter(
    "outbox_publish_failures_total", "Failed outbox publish attempts.", ["topic"]
)


_children: dict[tuple[Counter, str, str], Counter] = {}
_MAX_CHILDREN = 10_000


def count(counter: Counter, method: str, route: str) -> None:
    """Increment ``counter{method, route}``, keeping the labelled child (route templates
    are a bounded set, so the cache is too; it is cleared if that ever stops being so)."""
    child = _children.get((counter, method, route))
    if child is None:
        if len(_children) >= _MAX_CHILDREN:
            _children.clear()
        child = _children[(counter, method, route)] = counter.labels(method, route)
    child.inc()
