"""``AuthMiddleware``: a pure-ASGI layer (order 650) that authenticates bearer tokens.

When a request carries ``Authorization: Bearer <token>`` and the token is valid (see
:class:`~svc_auth.verifier.TokenVerifier`), the layer sets svc-core's principal
(subject = user id, roles, claims with ``sid`` and ``jti``) and tenant (``tid``) for the
request. An invalid token leaves the request anonymous: routes that require
authentication answer 401 with ``WWW-Authenticate``. Tokens in the query string
(``?access_token=``) are never read. When the store must be asked and does not answer,
the request fails closed with 503.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from svc_auth.errors import InvalidTokenError
from svc_core.context import set_principal, set_tenant_id
from svc_core.errors import problem_bytes
from svc_core.kv import KVUnavailableError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from svc_auth.service import AuthService

__all__ = ["AUTH_ORDER", "SCOPE_KEY", "AuthMiddleware"]

#: Position in the middleware stack (svc-core's ``stack.py``): inside the timeouts,
#: outside rate limiting (700), tenancy (750) and idempotency (800).
AUTH_ORDER = 650
#: ``scope`` key recording that a bearer token was presented and refused.
SCOPE_KEY = "svc_auth.invalid"


class AuthMiddleware:
    """Authenticate ``Authorization: Bearer`` tokens for the rest of the stack.

    Args:
        app: The wrapped ASGI app.
        service: The auth service whose verifier checks tokens. While its keys are not
            loaded yet (before start-up) requests pass anonymously.
    """

    def __init__(self, app: ASGIApp, service: AuthService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI event."""
        if scope["type"] != "http" or not self.service.started:
            await self.app(scope, receive, send)
            return
        raw = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                raw = value
                break
        if raw is None:
            await self.app(scope, receive, send)
            return
        scheme, _, token = raw.decode("latin-1").partition(" ")
        token = token.strip()
        try:
            if scheme.lower() != "bearer" or not token:
                raise InvalidTokenError
            found = await self.service.verifier.verify(token)
        except InvalidTokenError:
            scope[SCOPE_KEY] = True
            await self.app(scope, receive, send)
            return
        except KVUnavailableError:
            await _unavailable(send)
            return
        p_token = set_principal(found.principal)
        t_token = set_tenant_id(found.tenant_id)
        try:
            await self.app(scope, receive, send)
        finally:
            t_token.var.reset(t_token)
            p_token.var.reset(p_token)


async def _unavailable(send: Send) -> None:
    body = problem_bytes(503, detail="The session store is unavailable; retry shortly.")
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
