"""The error boundary: no exception leaves the core stack as a bare 500.

Starlette hands an exception that no handler took to ``ServerErrorMiddleware``, which sits
*outside* every user middleware: its 500 would miss ``X-Request-ID``, the security headers
and the request id in the body, and the exception would reach the server's log as an
"Exception in ASGI application". :class:`ErrorBoundaryMiddleware` sits twice in the core
stack — innermost (order 900, around the app) and just inside the request id and security
headers (order 210, around the other packages' layers) — and catches it first:

* an :class:`~svc_core.errors.SvcError` (e.g. raised by a middleware below it) becomes its
  own problem, with its status and headers;
* anything else is logged (logger ``svc_core.http``, with the traceback; never the body or
  headers of the request) and answered with a 500 problem whose ``detail`` is generic — no
  message, class name or traceback reaches the client;
* when the response had already started nothing can be sent any more: the exception is
  logged and re-raised so that the server aborts the connection.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from svc_core.errors import SvcError, log_server_error
from svc_core.http._asgi import encode_headers, send_problem

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["GENERIC_DETAIL", "ErrorBoundaryMiddleware"]

logger = logging.getLogger("svc_core.http")

#: The ``detail`` of every 500 problem produced for an unexpected exception.
GENERIC_DETAIL = "An unexpected error occurred."


def _where(scope: Scope) -> str:
    # The route template, never the raw path (it may carry ids or tokens).
    route = scope.get("route")
    template = getattr(route, "path", None)
    return f"{scope.get('method', '?')} {template or '<unmatched route>'}"


class ErrorBoundaryMiddleware:
    """Turn exceptions escaping the application into problem+json responses.

    Args:
        app: The ASGI application to wrap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one ASGI connection; non-HTTP scopes pass through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        def send_tracked(message: Message) -> Awaitable[None]:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            return send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            if started:
                logger.error(
                    "error after the response started (%s): %s",
                    _where(scope),
                    type(exc).__name__,
                    exc_info=exc,
                )
                raise
            await self._answer(scope, send, exc)

    @staticmethod
    async def _answer(scope: Scope, send: Send, exc: Exception) -> None:
        if isinstance(exc, SvcError):
            if exc.status_code >= 500:
                log_server_error(exc, _where(scope), log=logger)
            await send_problem(
                send,
                exc.status_code,
                headers=encode_headers(exc.headers.items()),
                detail=exc.detail,
                type_=exc.type,
                title=exc.title,
                extensions=exc.extensions,
            )
            return
        logger.error("unhandled error (%s): %s", _where(scope), type(exc).__name__, exc_info=exc)
        await send_problem(send, 500, detail=GENERIC_DETAIL)
