"""The per-route dependency: ``Idempotency-Key`` for one route, and the replay handler.

Usage::

    from fastapi import Depends
    from svc_idempotency import IdempotencyKey, IdempotentRequest

    @router.post("/orders", status_code=201)
    async def create_order(
        body: OrderIn,
        idem: IdempotentRequest | None = Depends(IdempotencyKey(required=True)),
    ) -> OrderOut: ...

Declare it **after** the route's other dependencies: whatever rejects the request
before it (authentication, a 404 lookup) stores nothing, and request validation (422)
— which FastAPI runs after every dependency — is detected and stores nothing either.
From the moment the handler runs, its answer (any status, 5xx included) is stored and
replayed to retries with ``Idempotent-Replayed: true``.
"""

# No ``from __future__ import annotations``: FastAPI reads the annotations of
# ``IdempotencyKey.__call__`` at runtime and cannot resolve strings on an instance.

from contextlib import AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response

from svc_core.context import get_principal, get_tenant_id
from svc_core.errors import ConfigurationError
from svc_idempotency import metrics
from svc_idempotency.errors import (
    IdempotencyKeyInUseError,
    IdempotencyKeyMismatchError,
    IdempotencyKeyMissingError,
)
from svc_idempotency.keys import fingerprint, parse_key, scope_digest
from svc_idempotency.manager import Claim, Idempotency
from svc_idempotency.middleware import SAFE_METHODS, SCOPE_KEY, Slot
from svc_idempotency.records import StoredResponse

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "REPLAYED_HEADER",
    "IdempotencyKey",
    "IdempotentReplay",
    "IdempotentRequest",
    "install_idempotency",
]

REPLAYED_HEADER = "Idempotent-Replayed"
STATE_ATTR = "svc_idempotency"


class IdempotentReplay(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by the dependency to answer with a stored response (see the handler)."""

    def __init__(self, record: StoredResponse) -> None:
        """Carry ``record`` to :func:`replay_response`."""
        super().__init__("idempotent replay")
        self.record = record


def replay_response(record: StoredResponse) -> Response:
    """The stored response, with ``Idempotent-Replayed: true``."""
    response = Response(content=record.body, status_code=record.status)
    raw = response.headers.raw
    raw[:] = [(k, v) for k, v in raw if k != b"content-type"]
    raw.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in record.headers)
    raw.append((b"idempotent-replayed", b"true"))
    return response


async def _replay_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    return replay_response(exc.record)


def install_idempotency(app: "FastAPI", manager: Idempotency) -> None:
    """Wire ``manager`` into ``app`` (the plugin does this; use it without svc-infra).

    Also add :class:`~svc_idempotency.IdempotencyMiddleware` to the app.
    """
    setattr(app.state, STATE_ATTR, manager)
    app.add_exception_handler(IdempotentReplay, _replay_handler)


class IdempotentRequest:
    """What a handler gets when its request holds an ``Idempotency-Key`` claim.

    Attributes:
        key: The client's key.
        claim: The in-flight claim.
    """

    def __init__(self, manager: Idempotency, claim: Claim, key: str) -> None:
        """Bind the claim to its manager."""
        self.manager = manager
        self.claim = claim
        self.key = key

    async def record_in(
        self,
        session: "AsyncSession",
        *,
        status_code: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Write the response retries will get inside ``session``'s transaction.

        Needs the SQL store (``SVC_IDEMPOTENCY__STORE=sql``). The record commits or
        rolls back with the handler's own rows, so "did it" and "remembered it" can
        never disagree after a crash. ``body`` is JSON-encoded (``jsonable_encoder``);
        return the same thing from the handler.

        Raises:
            ConfigurationError: The store is not the SQL store.
            IdempotencyKeyInUseError: Another attempt already completed this key (its
                claim had expired); the caller's transaction must roll back.
        """
        from svc_idempotency.sql_store import SqlIdempotencyStore

        store = self.manager.store
        if not isinstance(store, SqlIdempotencyStore):
            msg = "record_in() needs the SQL idempotency store (SVC_IDEMPOTENCY__STORE=sql)"
            raise ConfigurationError(msg)
        import json

        content = json.dumps(jsonable_encoder(body), separators=(",", ":")).encode()
        stored_headers = [("content-type", "application/json")]
        stored_headers += [(k.lower(), v) for k, v in (headers or {}).items()]
        record = StoredResponse(self.claim.fingerprint, status_code, tuple(stored_headers), content)
        if not await store.put_in(session, self.claim.scope, record, self.manager.ttl):
            raise IdempotencyKeyInUseError("Another attempt with this Idempotency-Key completed.")


def _key_and_content_type(headers: list[tuple[bytes, bytes]]) -> tuple[list[str], str]:
    # One pass over the raw header list: every Idempotency-Key line and the content type
    # (Starlette's ``request.headers`` would build a Headers object for the latter).
    keys: list[str] = []
    content_type = b""
    for name, value in headers:
        if name == b"idempotency-key":
            keys.append(value.decode("latin-1"))
        elif name == b"content-type" and not content_type:
            content_type = value
    return keys, content_type.decode("latin-1")


def _abort_on_validation_error(
    slot: Slot, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: Any
) -> bool:
    # An exit callback on FastAPI's per-request function stack: it sees the exception
    # that ends the path operation. Request validation (422) runs after every dependency
    # and before the handler: the handler never ran, so nothing may be stored.
    if exc_type is not None and isinstance(exc, RequestValidationError):
        slot.aborted = True
    return False  # never swallow the exception


class IdempotencyKey:
    """FastAPI dependency honouring ``Idempotency-Key`` on one route.

    Returns an :class:`IdempotentRequest` when the request claimed its key, ``None`` when
    no key was sent (and none is required) or the method is safe.

    A plain ``async`` dependency, not one with ``yield``: FastAPI wraps a ``yield``
    dependency in a context manager, an exit stack entry and a shielded cancel scope on
    every request, which cost more than the whole idempotency check. To learn that
    request validation refused the request after the claim (nothing is then stored) it
    puts one exit callback on FastAPI's per-request function stack (FastAPI ≥ 0.121).
    """

    def __init__(self, *, required: bool = False) -> None:
        """Args: required: a request without the header gets 400."""
        self.required = required

    async def __call__(self, request: Request) -> IdempotentRequest | None:
        """Parse, look up, replay or refuse, or claim and let the handler run."""
        scope = request.scope
        method = scope["method"]
        if method in SAFE_METHODS:
            return None
        slot = scope.get(SCOPE_KEY)
        manager = getattr(request.app.state, STATE_ATTR, None)
        if not isinstance(slot, Slot) or not isinstance(manager, Idempotency):
            msg = (
                "IdempotencyKey needs the idempotency plugin (or install_idempotency + middleware)"
            )
            raise ConfigurationError(msg)
        values, content_type = _key_and_content_type(scope["headers"])
        key = parse_key(values)
        if key is None:
            if self.required:
                raise IdempotencyKeyMissingError(
                    "This operation requires an Idempotency-Key header; "
                    "see the Idempotency-Key section of the documentation."
                )
            return None
        stack = scope.get("fastapi_function_astack")
        if not isinstance(stack, AsyncExitStack):
            msg = "IdempotencyKey needs FastAPI >= 0.121 (its per-request function exit stack)"
            raise ConfigurationError(msg)
        route = str(getattr(scope.get("route"), "path", scope["path"]))
        fp = fingerprint(
            method=method,
            route=route,
            path=scope["path"],
            query=scope.get("query_string", b""),
            body=await request.body(),
            content_type=content_type,
        )
        digest = scope_digest(key, tenant=get_tenant_id(), principal=get_principal())
        try:
            outcome = await manager.begin(digest, fp)
        except IdempotencyKeyMismatchError:
            metrics.count(metrics.MISMATCHES, method, route)
            raise
        except IdempotencyKeyInUseError:
            metrics.count(metrics.CONFLICTS, method, route)
            raise
        if isinstance(outcome, StoredResponse):
            metrics.count(metrics.REPLAYS, method, route)
            raise IdempotentReplay(outcome)
        metrics.count(metrics.EXECUTIONS, method, route)
        slot.manager, slot.claim = manager, outcome
        manager.keep_alive(outcome)
        stack.push(partial(_abort_on_validation_error, slot))
        return IdempotentRequest(manager, outcome, key)
