"""Prometheus metrics of the limiter (``prometheus_client``'s default registry).

* ``ratelimit_decisions_total{policy,outcome}`` — outcome ``allowed``, ``rejected``,
  ``fail_open`` (store down, let through), ``fail_closed`` (store down, 503),
  ``local_allowed`` / ``local_rejected`` (store down, in-process fallback);
* ``ratelimit_degraded`` — 1 while the store is unreachable, else 0;
* ``ratelimit_store_errors_total`` — store calls that failed;
* ``ratelimit_abuse_total{policy}`` — times the abuse hook fired.

Created on first use, so importing the package registers nothing. svc-obs exposes the
default registry on ``/metrics`` (multiprocess mode included).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge

__all__ = ["LimiterMetrics", "limiter_metrics"]


@dataclass(frozen=True, slots=True)
class LimiterMetrics:
    """The limiter's metric families."""

    decisions: Counter
    degraded: Gauge
    store_errors: Counter
    abuse: Counter


_lock = threading.Lock()
_metrics: LimiterMetrics | None = None


def limiter_metrics() -> LimiterMetrics:
    """The process-wide metric families, registered on first call."""
    global _metrics  # noqa: PLW0603 - one registration per process, by design
    with _lock:
        if _metrics is None:
            from prometheus_client import Counter, Gauge

            _metrics = LimiterMetrics(
                decisions=Counter(
                    "ratelimit_decisions",
                    "Rate-limit decisions by policy and outcome.",
                    ["policy", "outcome"],
                ),
                degraded=Gauge(
                    "ratelimit_degraded",
                    "1 while the rate limiter's store is unreachable.",
                    multiprocess_mode="max",
                ),
                store_errors=Counter(
                    "ratelimit_store_errors", "Rate-limiter store calls that failed."
                ),
                abuse=Counter(
                    "ratelimit_abuse",
                    "Times a key crossed the abuse threshold of repeated rejections.",
                    ["policy"],
                ),
            )
        return _metrics
