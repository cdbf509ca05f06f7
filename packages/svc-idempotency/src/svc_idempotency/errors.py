"""Errors raised by svc-idempotency.

Every error subclasses :class:`SvcIdempotencyError`, itself a
:class:`svc_core.errors.SvcError`, so the handlers svc-core installs render it as
problem+json. Each problem ``type`` links to the package's documentation
(``https://…/problems#<slug>``).
"""

from __future__ import annotations

from svc_core.errors import (
    BadRequestError,
    ConflictError,
    PreconditionFailedError,
    PreconditionRequiredError,
    SvcError,
    UnprocessableError,
)

__all__ = [
    "IdempotencyKeyInUseError",
    "IdempotencyKeyInvalidError",
    "IdempotencyKeyMismatchError",
    "IdempotencyKeyMissingError",
    "PreconditionRequiredHeaderError",
    "StalePreconditionError",
    "StaleVersionError",
    "SvcIdempotencyError",
]


class SvcIdempotencyError(SvcError):
    """Root of every svc-idempotency error."""


class IdempotencyKeyMissingError(SvcIdempotencyError, BadRequestError):
    """400: the route requires an ``Idempotency-Key`` header and none was sent."""

    type_slug = "idempotency-key-missing"
    title = "Idempotency-Key Missing"


class IdempotencyKeyInvalidError(SvcIdempotencyError, BadRequestError):
    """400: the ``Idempotency-Key`` is empty, a list, too long or not an sf-string."""

    type_slug = "idempotency-key-invalid"
    title = "Invalid Idempotency-Key"


class IdempotencyKeyMismatchError(SvcIdempotencyError, UnprocessableError):
    """422: the key was already used with a different request (body, path or method)."""

    type_slug = "idempotency-key-mismatch"
    title = "Idempotency-Key Reused With A Different Request"


class IdempotencyKeyInUseError(SvcIdempotencyError, ConflictError):
    """409: a request with the same key is still being processed."""

    type_slug = "idempotency-key-in-use"
    title = "Idempotency-Key In Use"


class StalePreconditionError(SvcIdempotencyError, PreconditionFailedError):
    """412: ``If-Match`` names a version that is no longer current."""

    type_slug = "precondition-failed"
    title = "Precondition Failed"


class PreconditionRequiredHeaderError(SvcIdempotencyError, PreconditionRequiredError):
    """428: the route requires ``If-Match`` and none was sent."""

    type_slug = "precondition-required"
    title = "Precondition Required"


class StaleVersionError(SvcIdempotencyError, ConflictError):
    """409: the ``version`` in the request body is not the current one."""

    type_slug = "stale-version"
    title = "Stale Version"
