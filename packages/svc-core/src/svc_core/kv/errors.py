"""Errors raised by the key-value stores.

Every backend raises the same classes, so callers (rate limiting, idempotency, the
circuit breaker) choose fail-open or fail-closed without knowing which store runs.
"""

from __future__ import annotations

from svc_core.errors import ConflictError, ServiceUnavailableError, SvcError

__all__ = ["KVError", "KVUnavailableError", "LeaseUnavailableError"]


class KVError(SvcError):
    """Root of the key-value errors: the store rejected an operation.

    Raised as-is for programming errors the server reports (``INCR`` on a value that
    is not an integer, a Lua script that fails); its subclasses cover outages and
    contention.
    """

    status_code = 500
    type_slug = "kv-error"
    title = "Key-Value Store Error"


class KVUnavailableError(KVError, ServiceUnavailableError):
    """The store did not answer in time or could not be reached.

    Callers decide what an outage means for them (STANDARDS D7: fail closed on auth
    routes, configurable elsewhere); the HTTP mapping is 503.
    """

    # Set again: KVError comes first in the MRO and would otherwise win with 500.
    status_code = 503
    type_slug = "service-unavailable"
    title = "Service Unavailable"


class LeaseUnavailableError(KVError, ConflictError):
    """A lease is held by another owner (HTTP 409).

    Attributes:
        key: The key of the lease, without the store namespace.
    """

    status_code = 409
    type_slug = "conflict"
    title = "Conflict"

    def __init__(self, key: str, detail: str | None = None) -> None:
        self.key = key
        # The key is not put into the problem extensions: keys are internal names.
        super().__init__(detail or "The resource is locked by another operation.")
