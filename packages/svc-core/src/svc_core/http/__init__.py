"""Pure-ASGI middleware every svc-infra service needs.

Usage guide::

    from fastapi import FastAPI
    from svc_core.errors import install_error_handlers
    from svc_core.http import apply_middleware, core_middleware
    from svc_core.settings import SvcSettings

    app = FastAPI()
    install_error_handlers(app)
    apply_middleware(app, core_middleware(SvcSettings()))

``core_middleware(settings)`` returns the layers as :class:`~svc_core.plugin.MiddlewareSpec`
(``svc_infra.create_app()`` merges them with other packages' layers by ``order``);
``apply_middleware`` puts any list of specs on an app in the right nesting.

The layers, outermost first (order in brackets):

* :class:`RequestIdMiddleware` (100) — echoes a well-formed ``X-Request-ID`` or makes one,
  exposes it via :func:`svc_core.context.get_request_id` and on every response, and adds
  the security headers in the same response wrapper: nosniff,
  ``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY`` + CSP
  ``frame-ancestors 'none'``, HSTS when ``SVC_ENV=prod`` (:func:`security_headers`;
  :class:`SecurityHeadersMiddleware` is the same as a layer of its own, for hand-built
  stacks, at order 200);
* :class:`StrictCORSMiddleware` (400) — only when ``SVC_HTTP__CORS_ORIGINS`` lists origins;
* :class:`BodyLimitMiddleware` (500) — 413 above ``SVC_HTTP__MAX_BODY_BYTES``, 408 after
  ``SVC_HTTP__BODY_TIMEOUT``, 400 for non-UTF-8 JSON or ``NaN``/``Infinity``;
* :class:`TimeoutMiddleware` (600) — 504 after ``SVC_HTTP__HANDLER_TIMEOUT``; a route can
  move its deadline with ``Depends(handler_timeout(seconds))``;
* :class:`ErrorBoundaryMiddleware` (900, and again at 210) — any escaping exception
  becomes a problem+json response (500 with a generic detail), inside the request-id and
  header layers; the copy at 210 covers the other packages' layers (250-800).

Every error these layers send is ``application/problem+json`` with ``request_id``.
"""

from svc_core.http.boundary import GENERIC_DETAIL, ErrorBoundaryMiddleware
from svc_core.http.cors import EXPOSED_HEADERS, StrictCORSMiddleware, cors_options
from svc_core.http.headers import (
    DEFAULT_HSTS_MAX_AGE,
    SecurityHeadersMiddleware,
    security_headers,
)
from svc_core.http.limits import (
    DEFAULT_MAX_BODY_BYTES,
    BodyLimitMiddleware,
    BodyTimeoutError,
    ContentTooLargeError,
    MalformedJSONError,
)
from svc_core.http.request_id import (
    REQUEST_ID_HEADER,
    REQUEST_ID_PATTERN,
    RequestIdMiddleware,
    is_valid_request_id,
    new_request_id,
)
from svc_core.http.stack import (
    BODY_LIMIT_ORDER,
    CORS_ORDER,
    ERROR_BOUNDARY_ORDER,
    HANDLER_TIMEOUT_ORDER,
    OUTER_ERROR_BOUNDARY_ORDER,
    REQUEST_ID_ORDER,
    SECURITY_HEADERS_ORDER,
    apply_middleware,
    core_middleware,
)
from svc_core.http.timeouts import (
    DEADLINE_SCOPE_KEY,
    HandlerTimeoutError,
    TimeoutMiddleware,
    handler_timeout,
    set_handler_timeout,
)

__all__ = [
    "BODY_LIMIT_ORDER",
    "CORS_ORDER",
    "DEADLINE_SCOPE_KEY",
    "DEFAULT_HSTS_MAX_AGE",
    "DEFAULT_MAX_BODY_BYTES",
    "ERROR_BOUNDARY_ORDER",
    "EXPOSED_HEADERS",
    "GENERIC_DETAIL",
    "HANDLER_TIMEOUT_ORDER",
    "OUTER_ERROR_BOUNDARY_ORDER",
    "REQUEST_ID_HEADER",
    "REQUEST_ID_ORDER",
    "REQUEST_ID_PATTERN",
    "SECURITY_HEADERS_ORDER",
    "BodyLimitMiddleware",
    "BodyTimeoutError",
    "ContentTooLargeError",
    "ErrorBoundaryMiddleware",
    "HandlerTimeoutError",
    "MalformedJSONError",
    "RequestIdMiddleware",
    "SecurityHeadersMiddleware",
    "StrictCORSMiddleware",
    "TimeoutMiddleware",
    "apply_middleware",
    "core_middleware",
    "cors_options",
    "handler_timeout",
    "is_valid_request_id",
    "new_request_id",
    "security_headers",
    "set_handler_timeout",
]
