"""Security response headers for an API service.

svc-core's default stack sends them from the request-id layer (one response wrapper for
both, see :class:`~svc_core.http.request_id.RequestIdMiddleware`); this middleware is
the same on its own, for apps that compose layers by hand.

Every response gets, unless the application already set that header itself:

* ``X-Content-Type-Options: nosniff`` — browsers must not guess a type other than the
  declared one (a JSON error rendered as HTML would be an XSS vector);
* ``Referrer-Policy: no-referrer`` — an API has no reason to leak its URLs (which may hold
  ids or tokens) to other sites; ``no-referrer`` is the strictest value and the one OWASP's
  secure-headers project recommends. ``strict-origin-when-cross-origin`` (the browsers'
  default) is the usual alternative for services that also serve pages;
* ``X-Frame-Options: DENY`` and ``Content-Security-Policy: frame-ancestors 'none'`` —
  nothing may frame the service (clickjacking). The CSP carries *only* ``frame-ancestors``:
  it restricts no scripts or styles, so FastAPI's ``/docs`` (Swagger UI loads scripts from a
  CDN) keeps working. A response that sets its own ``Content-Security-Policy`` keeps it;
* in production (``SVC_ENV=prod``) ``Strict-Transport-Security: max-age=…;
  includeSubDomains``. It is sent whatever ``scope["scheme"]`` says, because TLS usually
  ends at a proxy in front of the service; browsers ignore it over plain HTTP.

``Cross-Origin-Opener-Policy`` is not set by default: it would cut Swagger UI's OAuth2
pop-up from its opener. Pass it (or anything else) in ``extra_headers`` if you want it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from svc_core.http._asgi import encode_headers

if TYPE_CHECKING:
    from collections.abc import Awaitable, Mapping

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_HSTS_MAX_AGE", "SecurityHeadersMiddleware", "security_headers"]

#: Two years, the value hstspreload.org asks for.
DEFAULT_HSTS_MAX_AGE = 63_072_000


def security_headers(
    *,
    hsts: bool = False,
    hsts_max_age: int = DEFAULT_HSTS_MAX_AGE,
    hsts_include_subdomains: bool = True,
    hsts_preload: bool = False,
    referrer_policy: str = "no-referrer",
    frame_options: str = "DENY",
    content_security_policy: str | None = "frame-ancestors 'none'",
    extra_headers: Mapping[str, str] | None = None,
) -> tuple[tuple[bytes, bytes], ...]:
    """The security headers above as raw ASGI pairs (arguments as for the middleware)."""
    pairs: dict[str, str] = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": referrer_policy,
        "X-Frame-Options": frame_options,
    }
    if content_security_policy:
        pairs["Content-Security-Policy"] = content_security_policy
    if hsts:
        value = f"max-age={int(hsts_max_age)}"
        if hsts_include_subdomains:
            value += "; includeSubDomains"
        if hsts_preload:
            value += "; preload"
        pairs["Strict-Transport-Security"] = value
    pairs.update(extra_headers or {})
    return tuple(encode_headers(pairs.items()))


class SecurityHeadersMiddleware:
    """Add the security headers above to every HTTP response, errors included.

    Args:
        app: The ASGI application to wrap.
        hsts: Send ``Strict-Transport-Security`` (turn on in production only).
        hsts_max_age: HSTS ``max-age`` in seconds.
        hsts_include_subdomains: Add ``includeSubDomains`` to HSTS.
        hsts_preload: Add ``preload`` to HSTS (only once the domain is submitted).
        referrer_policy: The ``Referrer-Policy`` value.
        frame_options: The ``X-Frame-Options`` value (``DENY`` or ``SAMEORIGIN``).
        content_security_policy: The ``Content-Security-Policy`` value used when the
            response has none; ``None`` sends no CSP.
        extra_headers: More headers to add the same way (only when absent).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        hsts: bool = False,
        hsts_max_age: int = DEFAULT_HSTS_MAX_AGE,
        hsts_include_subdomains: bool = True,
        hsts_preload: bool = False,
        referrer_policy: str = "no-referrer",
        frame_options: str = "DENY",
        content_security_policy: str | None = "frame-ancestors 'none'",
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.headers: tuple[tuple[bytes, bytes], ...] = security_headers(
            hsts=hsts,
            hsts_max_age=hsts_max_age,
            hsts_include_subdomains=hsts_include_subdomains,
            hsts_preload=hsts_preload,
            referrer_policy=referrer_policy,
            frame_options=frame_options,
            content_security_policy=content_security_policy,
            extra_headers=extra_headers,
        )
        self._names = frozenset(name for name, _ in self.headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one ASGI connection; non-HTTP scopes pass through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        ours = self.headers
        names = self._names

        def send_with_headers(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                added = ours
                # ASGI response header names are lower-case by specification.
                for name, _ in headers:
                    if name in names:  # the app set some of them: keep the app's
                        present = {key for key, _ in headers}
                        added = tuple(h for h in ours if h[0] not in present)
                        break
                # A copy, never an in-place edit: the app may reuse its message or list.
                message = {**message, "headers": [*headers, *added]}
            return send(message)

        await self.app(scope, receive, send_with_headers)
