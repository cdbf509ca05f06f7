"""svc-idempotency: Idempotency-Key replay, optimistic locking, transactional outbox and inbox.

Install with ``pip install svc-idempotency`` or ``pip install "svc-infra[idempotency]"``. Once
installed, ``svc_infra.create_app()`` discovers :class:`IdempotencyPlugin` through the
``svc_infra.plugins`` entry point and wires the package in with its defaults::

    from svc_infra import create_app

    app = create_app()

Every error this package raises is a :class:`SvcIdempotencyError`, rendered as
problem+json by svc-core's handlers.
"""

from importlib.metadata import version as _version

from svc_idempotency.errors import SvcIdempotencyError
from svc_idempotency.plugin import IdempotencyPlugin

__version__ = _version("svc-idempotency")
__all__ = ["IdempotencyPlugin", "SvcIdempotencyError", "__version__"]
