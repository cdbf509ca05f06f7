"""svc-idempotency: Idempotency-Key replay, optimistic locking, transactional outbox and inbox.

Install with ``pip install svc-idempotency`` (``[redis]`` / ``[postgres]`` extras for the
production backends). ``svc_infra.create_app()`` discovers :class:`IdempotencyPlugin`
(middleware order 800, the replay handler, the ``idempotency`` migration branch); routes
opt in with a dependency::

    from fastapi import Depends
    from svc_idempotency import IdempotencyKey, IdempotentRequest, etag, if_match, outbox

    @router.post("/orders", status_code=201)
    async def create(body: OrderIn,
                     idem: IdempotentRequest | None = Depends(IdempotencyKey(required=True))):
        async with db.transaction() as session:
            order = Order(**body.model_dump()); session.add(order)
            await outbox.add(session, "orders.created", {"id": str(order.id)})
        return order

A retry with the same key and payload gets the stored answer with
``Idempotent-Replayed: true``; another payload → 422; while the first runs → 409.
Optimistic locking: :func:`etag`, :func:`if_match`, :func:`check_version`. Outbox:
:func:`outbox.add <svc_idempotency.outbox.add>` + :class:`OutboxRelay`. Inbox:
:class:`SqlInbox`, :class:`KVInbox`. Errors are :class:`SvcIdempotencyError` subclasses
rendered as problem+json.
"""

from importlib.metadata import version as _version

from svc_idempotency import outbox
from svc_idempotency.dependencies import (
    REPLAYED_HEADER,
    IdempotencyKey,
    IdempotentReplay,
    IdempotentRequest,
    install_idempotency,
    replay_response,
)
from svc_idempotency.errors import (
    IdempotencyKeyInUseError,
    IdempotencyKeyInvalidError,
    IdempotencyKeyMismatchError,
    IdempotencyKeyMissingError,
    PreconditionRequiredHeaderError,
    StalePreconditionError,
    StaleVersionError,
    SvcIdempotencyError,
)
from svc_idempotency.inbox import KVInbox, SqlInbox
from svc_idempotency.keys import fingerprint, parse_key, scope_digest
from svc_idempotency.locking import (
    IfMatch,
    check_version,
    etag,
    if_match,
    if_match_hook,
    parse_etag_list,
    read_if_match,
)
from svc_idempotency.manager import Claim, Idempotency
from svc_idempotency.middleware import MIDDLEWARE_ORDER, IdempotencyMiddleware
from svc_idempotency.outbox import (
    CallbackPublisher,
    LoggingPublisher,
    OutboxEvent,
    OutboxRelay,
    OutboxStats,
    Publisher,
)
from svc_idempotency.plugin import IdempotencyPlugin
from svc_idempotency.records import StoredResponse
from svc_idempotency.settings import DEFAULT_REPLAY_HEADERS, IdempotencySettings
from svc_idempotency.sql_store import SqlIdempotencyStore
from svc_idempotency.stores import IdempotencyStore, KVIdempotencyStore

__version__ = _version("svc-idempotency")
__all__ = [
    "DEFAULT_REPLAY_HEADERS",
    "MIDDLEWARE_ORDER",
    "REPLAYED_HEADER",
    "CallbackPublisher",
    "Claim",
    "Idempotency",
    "IdempotencyKey",
    "IdempotencyKeyInUseError",
    "IdempotencyKeyInvalidError",
    "IdempotencyKeyMismatchError",
    "IdempotencyKeyMissingError",
    "IdempotencyMiddleware",
    "IdempotencyPlugin",
    "IdempotencySettings",
    "IdempotencyStore",
    "IdempotentReplay",
    "IdempotentRequest",
    "IfMatch",
    "KVIdempotencyStore",
    "KVInbox",
    "LoggingPublisher",
    "OutboxEvent",
    "OutboxRelay",
    "OutboxStats",
    "PreconditionRequiredHeaderError",
    "Publisher",
    "SqlIdempotencyStore",
    "SqlInbox",
    "StalePreconditionError",
    "StaleVersionError",
    "StoredResponse",
    "SvcIdempotencyError",
    "__version__",
    "check_version",
    "etag",
    "fingerprint",
    "if_match",
    "if_match_hook",
    "install_idempotency",
    "outbox",
    "parse_etag_list",
    "parse_key",
    "read_if_match",
    "replay_response",
    "scope_digest",
]
