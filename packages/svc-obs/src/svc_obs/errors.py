"""Errors raised by svc-obs.

Every error subclasses :class:`SvcObsError`, itself a
:class:`svc_core.errors.SvcError`, so the handlers svc-core installs render it as
problem+json.

========================= ====== ===================================================
class                     status problem type slug
========================= ====== ===================================================
:class:`MaintenanceError` 503    ``maintenance``
:class:`CircuitOpenError` 503    ``circuit-open``
========================= ====== ===================================================
"""

from __future__ import annotations

from svc_core.errors import SvcError

__all__ = ["CircuitOpenError", "MaintenanceError", "SvcObsError"]


class SvcObsError(SvcError):
    """Root of every svc-obs error."""


class MaintenanceError(SvcObsError):
    """The service is in maintenance mode; retry after ``Retry-After`` seconds."""

    status_code = 503
    expected = True  # a deliberate refusal: one WARNING line, no traceback
    type_slug = "maintenance"
    title = "Service Under Maintenance"


class CircuitOpenError(SvcObsError):
    """A circuit breaker is open: the dependency is not called until it may recover.

    Attributes:
        breaker: The breaker's name.
        retry_after: Seconds until the breaker lets a trial call through.
    """

    status_code = 503
    expected = True  # a deliberate refusal: one WARNING line, no traceback
    type_slug = "circuit-open"
    title = "Circuit Open"

    def __init__(self, breaker: str, retry_after: float) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(
            f"The dependency {breaker!r} is unavailable; try again later.",
            extensions={"breaker": breaker},
            headers={"Retry-After": str(seconds)},
        )
        self.breaker = breaker
        self.retry_after = retry_after
