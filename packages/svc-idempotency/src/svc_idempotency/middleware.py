"""The pure-ASGI middleware (order 800) that records what a claimed request answered.

The route dependency (:class:`~svc_idempotency.IdempotencyKey`) does the deciding — it
parses the key, replays, refuses (400/409/422) or claims — because only after routing
is the route template known and only a dependency can tell a request that reached the
handler from one rejected by validation. The middleware sits outside the router to see
the response the client gets (including the 500 of svc-core's error boundary, order
900) and stores it when the request holds a claim. Requests without a claim pass
through untouched.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from svc_idempotency.records import StoredResponse

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from svc_idempotency.manager import Claim, Idempotency

__all__ = ["MIDDLEWARE_ORDER", "SAFE_METHODS", "SCOPE_KEY", "IdempotencyMiddleware", "Slot"]

logger = logging.getLogger("svc_idempotency")

MIDDLEWARE_ORDER = 800
SCOPE_KEY = "svc_idempotency"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


@dataclass(slots=True)
class Slot:
    """Per-request hand-over between the dependency and the middleware."""

    manager: Idempotency | None = None
    claim: Claim | None = None
    aborted: bool = False


class IdempotencyMiddleware:
    """Stores the response of requests that hold an ``Idempotency-Key`` claim."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; when the dependency claimed a key, capture and store."""
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        slot = Slot()
        scope[SCOPE_KEY] = slot
        status = 0
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        size = 0
        settled = False

        async def settle_then_send(message: Message, outcome: Awaitable[object]) -> None:
            await _settle(outcome)
            await send(message)

        def capture(message: Message) -> Awaitable[None]:
            # A plain function returning an awaitable: no coroutine per message unless
            # the claim has to be settled first.
            nonlocal status, size, settled
            claim, manager = slot.claim, slot.manager
            if claim is None or manager is None or settled:
                return send(message)
            if message["type"] == "http.response.start":
                status = int(message["status"])
                wanted = manager.replay_headers
                headers.extend(
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", ())
                    if k.lower() in wanted
                )
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                size += len(body)
                if size <= manager.max_body_bytes:
                    chunks.append(body)
                if not message.get("more_body", False):
                    # Settle before the client sees the end of the response, so that
                    # a retry sent the moment it arrives finds the record.
                    settled = True
                    if slot.aborted or size > manager.max_body_bytes:
                        return settle_then_send(message, manager.release(claim))
                    record = StoredResponse(
                        claim.fingerprint, status, tuple(headers), b"".join(chunks)
                    )
                    return settle_then_send(message, manager.complete(claim, record))
            return send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            claim, manager = slot.claim, slot.manager
            if claim is not None and manager is not None and not settled:
                # No complete response (an error after it started, a cancelled request):
                # free the key. Shielded so that a cancellation still settles it.
                await asyncio.shield(_settle(manager.release(claim)))


async def _settle(outcome: Awaitable[object]) -> None:
    try:
        await outcome
    except Exception:
        logger.warning("could not settle an idempotency claim; it will expire", exc_info=True)
