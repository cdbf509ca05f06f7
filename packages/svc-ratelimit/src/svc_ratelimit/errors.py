"""Errors raised by svc-ratelimit.

Every error subclasses :class:`SvcRatelimitError`, itself a
:class:`svc_core.errors.SvcError`, so the handlers svc-core installs render it as
problem+json:

* :class:`RateLimitExceededError` — 429, type ``…#quota-exceeded``, ``violated-policies``,
  ``Retry-After`` and the RateLimit fields as headers;
* :class:`RateLimiterUnavailableError` — 503 when the limiter's store is down and the
  policy fails closed (auth routes always do);
* :class:`InvalidLimitError` — a limit string that does not parse (a configuration error).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from svc_core.errors import ConfigurationError, SvcError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "InvalidLimitError",
    "RateLimitExceededError",
    "RateLimiterUnavailableError",
    "SvcRatelimitError",
]


class SvcRatelimitError(SvcError):
    """Root of every svc-ratelimit error."""


class RateLimitExceededError(SvcRatelimitError):
    """The caller exceeded a quota (HTTP 429).

    The problem lists the names of the violated quota policies (as they appear in the
    ``RateLimit-Policy`` field) under ``violated-policies``; storage keys never appear.

    Args:
        violated: Names of the violated policies.
        retry_after: Whole seconds before a retry can succeed (``Retry-After``).
        headers: The RateLimit fields to send with the response.
    """

    status_code = 429
    type_slug = "quota-exceeded"
    title = "Quota Exceeded"

    def __init__(
        self,
        violated: Sequence[str],
        retry_after: int,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.violated = list(violated)
        self.retry_after = retry_after
        merged = {
            **dict(headers or {}),
            "Retry-After": str(retry_after),
            "Cache-Control": "no-store",
        }
        super().__init__(
            f"Too many requests; retry in {retry_after} s.",
            extensions={"violated-policies": self.violated},
            headers=merged,
        )


class RateLimiterUnavailableError(SvcRatelimitError):
    """The limiter's store is unreachable and the policy fails closed (HTTP 503)."""

    status_code = 503
    expected = True  # a deliberate refusal: one WARNING line, no traceback
    type_slug = "service-unavailable"
    title = "Service Unavailable"

    def __init__(self, retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__(
            "The rate limiter is temporarily unavailable; retry shortly.",
            headers={"Retry-After": str(retry_after), "Cache-Control": "no-store"},
        )


class InvalidLimitError(SvcRatelimitError, ConfigurationError):
    """A limit string such as ``"100/minute;2000/hour"`` does not parse."""

    status_code = 500
    type_slug = "configuration-error"
    title = "Configuration Error"
