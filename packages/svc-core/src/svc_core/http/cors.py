"""Deny-by-default CORS on top of Starlette's ``CORSMiddleware``.

Why reuse Starlette's: it is pure ASGI, small, maintained with the framework we run on,
and its preflight/simple-request logic (``Vary``, credentials mirroring, header
allow-lists) is exactly the part that is easy to get subtly wrong. We add the policy
around it:

* no allowed origins (the default) means no CORS at all: :func:`cors_options` returns
  ``None`` and :func:`svc_core.http.core_middleware` leaves the layer out, so no response
  carries ``Access-Control-Allow-*`` and a browser's preflight gets the route's ordinary
  answer (405 problem for ``OPTIONS``), which fails the preflight;
* a wildcard origin is never combined with credentials (:class:`ConfigurationError`);
* a refused preflight (origin, method or header not allowed) is a ``403``
  ``application/problem+json`` instead of Starlette's plain-text ``400``, like every
  other error of the service;
* a request without ``Origin`` (same-origin, or not from a browser: most traffic) skips
  Starlette's header parsing and only gets ``Vary: Origin``, as Starlette would add.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.middleware.cors import CORSMiddleware

from svc_core.errors import ConfigurationError, problem_response, problem_type

if TYPE_CHECKING:
    from collections.abc import Awaitable, Collection

    from starlette.datastructures import Headers
    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from svc_core.settings import HttpSettings

__all__ = ["EXPOSED_HEADERS", "StrictCORSMiddleware", "cors_options"]

#: Response headers of the HTTP contract that browser scripts may read cross-origin
#: (none of them is CORS-safelisted).
EXPOSED_HEADERS: tuple[str, ...] = (
    "X-Request-ID",
    "ETag",
    "Location",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "Idempotent-Replayed",
)

# Preflight response headers worth keeping on a refusal (caches must still vary).
_KEEP_ON_REFUSAL = ("vary",)
_VARY_ORIGIN = (b"vary", b"Origin")


class _VaryOrigin:
    """A ``send`` that adds ``Origin`` to the response's ``Vary`` header."""

    __slots__ = ("send",)

    def __init__(self, send: Send) -> None:
        self.send = send

    def __call__(self, message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            for i, (name, value) in enumerate(headers):
                if name == b"vary":
                    headers[i] = (name, value + b", Origin")
                    break
            else:
                headers.append(_VARY_ORIGIN)
            message = {**message, "headers": headers}
        return self.send(message)


class StrictCORSMiddleware(CORSMiddleware):
    """Starlette's ``CORSMiddleware`` with the deny-by-default rules of this package.

    Args:
        app: The ASGI application to wrap.
        allow_origins: Exact origins allowed (``https://app.example.com``); ``"*"`` allows
            any origin and may not be combined with ``allow_credentials``.
        allow_methods: Methods a preflight may ask for.
        allow_headers: Request headers a preflight may ask for.
        allow_credentials: Allow cookies / ``Authorization`` on cross-origin calls.
        expose_headers: Response headers the browser may show to the calling script.
        max_age: Seconds a browser may cache a preflight answer.

    Raises:
        ConfigurationError: ``"*"`` together with credentials, or an origin regex.
    """

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: Collection[str] = (),
        allow_methods: Collection[str] = ("GET",),
        allow_headers: Collection[str] = (),
        allow_credentials: bool = False,
        expose_headers: Collection[str] = (),
        max_age: int = 600,
        **kwargs: Any,
    ) -> None:
        if allow_credentials and "*" in allow_origins:
            msg = "CORS: the wildcard origin '*' cannot be combined with credentials"
            raise ConfigurationError(msg)
        if kwargs.get("allow_origin_regex"):
            # A regex makes "which origins are allowed" hard to review; list them instead.
            msg = "CORS: allow_origin_regex is not supported; list the origins explicitly"
            raise ConfigurationError(msg)
        super().__init__(
            app,
            allow_origins=tuple(allow_origins),
            allow_methods=tuple(allow_methods),
            allow_headers=tuple(allow_headers),
            allow_credentials=allow_credentials,
            expose_headers=tuple(expose_headers),
            max_age=max_age,
            **kwargs,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one ASGI connection; requests without ``Origin`` take a fast path."""
        if scope["type"] == "http":
            for name, _ in scope["headers"]:
                if name == b"origin":
                    break
            else:
                # Not a CORS request (same-origin or not from a browser). Starlette would
                # only add "Vary: Origin" here, at ~4 us; doing that directly costs ~1 us.
                await self.app(scope, receive, _VaryOrigin(send))
                return
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers: Headers) -> Response:
        """Starlette's preflight answer, with a refusal turned into a 403 problem."""
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        detail = bytes(response.body).decode("latin-1")  # e.g. "Disallowed CORS origin"
        kept = {k: v for k, v in response.headers.items() if k.lower() in _KEEP_ON_REFUSAL}
        return problem_response(
            403,
            type_=problem_type("cors-denied"),
            title="CORS Request Denied",
            detail=f"{detail}.",
            headers=kept,
        )


def cors_options(http: HttpSettings) -> dict[str, Any] | None:
    """Keyword arguments for :class:`StrictCORSMiddleware` from the HTTP settings.

    Returns:
        ``None`` when no origin is allowed (then no CORS layer is needed at all).

    Raises:
        ConfigurationError: ``'*'`` combined with credentials (checked again here in case
            the settings were built without validation).
    """
    origins = [origin.strip() for origin in http.cors_origins if origin.strip()]
    if not origins:
        return None
    if http.cors_allow_credentials and "*" in origins:
        msg = "SVC_HTTP__CORS_ORIGINS='*' cannot be combined with credentials"
        raise ConfigurationError(msg)
    return {
        "allow_origins": tuple(origins),
        "allow_methods": tuple(m.upper() for m in http.cors_allow_methods),
        "allow_headers": tuple(http.cors_allow_headers),
        "allow_credentials": http.cors_allow_credentials,
        "expose_headers": EXPOSED_HEADERS,
        "max_age": http.cors_max_age,
    }
