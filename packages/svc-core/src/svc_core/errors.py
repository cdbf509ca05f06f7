"""Errors shared by every svc-infra package, and their RFC 9457 problem+json form.

Every package raises subclasses of :class:`SvcError`. Each class carries the HTTP
``status_code``, a problem ``type`` slug and a ``title``; instances add a ``detail`` and
structured ``extensions`` that become members of the problem document.

:func:`install_error_handlers` registers the one set of exception handlers that turn
these errors, Starlette's HTTP exceptions, FastAPI's validation errors and anything
unexpected into ``application/problem+json`` responses carrying ``request_id``.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.responses import Response

from svc_core.context import get_request_id

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from fastapi import FastAPI
    from starlette.requests import Request

__all__ = [
    "PROBLEM_BASE_URI",
    "PROBLEM_CONTENT_TYPE",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ForbiddenError",
    "MissingDependencyError",
    "NotFoundError",
    "PreconditionFailedError",
    "PreconditionRequiredError",
    "ServiceUnavailableError",
    "SvcError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnprocessableError",
    "install_error_handlers",
    "log_server_error",
    "problem_body",
    "problem_bytes",
    "problem_response",
    "problem_type",
]

logger = logging.getLogger("svc_core.errors")

PROBLEM_CONTENT_TYPE = "application/problem+json"
#: Base of every problem ``type`` URI; the slug follows the ``#``. The page it names in
#: the documentation site lists every problem type.
PROBLEM_BASE_URI = "https://svc-infra.dev/problems"

_TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_SLUGS: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    402: "payment-required",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    408: "request-timeout",
    409: "conflict",
    410: "gone",
    412: "precondition-failed",
    413: "content-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    428: "precondition-required",
    429: "too-many-requests",
    500: "internal-error",
    502: "bad-gateway",
    503: "service-unavailable",
    504: "gateway-timeout",
}


def problem_type(slug: str) -> str:
    """Return the full problem ``type`` URI for ``slug`` (e.g. ``quota-exceeded``)."""
    return f"{PROBLEM_BASE_URI}#{slug}"


def _title_for(status: int) -> str:
    return _TITLES.get(status, "Error")


class SvcError(Exception):
    """Root of every svc-infra error.

    Subclasses set the class attributes; instances may override ``detail`` and add
    ``extensions`` (extra problem members such as ``errors`` or ``violated-policies``)
    and ``headers`` (e.g. ``Retry-After``).
    """

    status_code: ClassVar[int] = 500
    type_slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal Server Error"
    #: A deliberate refusal with a 5xx status (an open circuit breaker, maintenance mode,
    #: a limiter failing closed): logged as one WARNING line without a traceback, where
    #: other 5xx errors are logged at ERROR with theirs.
    expected: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        extensions: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions: dict[str, Any] = dict(extensions or {})
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def type(self) -> str:
        """The problem ``type`` URI."""
        return problem_type(self.type_slug)

    def to_problem(self) -> dict[str, Any]:
        """The problem document (without ``request_id``, which the handler adds)."""
        return problem_body(
            self.status_code,
            detail=self.detail,
            type_=self.type,
            title=self.title,
            extensions=self.extensions,
        )


class ConfigurationError(SvcError):
    """Developer misuse: settings or wiring that cannot work. Raised at start-up."""

    status_code = 500
    type_slug = "configuration-error"
    title = "Configuration Error"


class MissingDependencyError(ConfigurationError, ImportError):
    """An optional library is missing; the message names the extra to install."""

    type_slug = "missing-dependency"
    title = "Missing Dependency"

    def __init__(self, library: str, *, package: str, extra: str) -> None:
        self.library = library
        self.install = f'pip install "{package}[{extra}]"'
        super().__init__(f"{library} is not installed; run: {self.install}")


class BadRequestError(SvcError):
    """The request is malformed (syntax, headers)."""

    status_code = 400
    type_slug = "bad-request"
    title = "Bad Request"


class NotFoundError(SvcError):
    """The resource does not exist (or is not visible to the caller)."""

    status_code = 404
    type_slug = "not-found"
    title = "Not Found"


class ConflictError(SvcError):
    """The request conflicts with the current state of the resource."""

    status_code = 409
    type_slug = "conflict"
    title = "Conflict"


class ServiceUnavailableError(SvcError):
    """A dependency is unavailable; the client may retry later."""

    status_code = 503
    type_slug = "service-unavailable"
    title = "Service Unavailable"


class UnauthorizedError(SvcError):
    """No valid credential was presented (401 with ``WWW-Authenticate``)."""

    status_code = 401
    type_slug = "unauthorized"
    title = "Unauthorized"

    def __init__(
        self,
        detail: str | None = None,
        *,
        scheme: str = "Bearer",
        extensions: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        merged = {"WWW-Authenticate": scheme, **dict(headers or {})}
        super().__init__(detail, extensions=extensions, headers=merged)


class ForbiddenError(SvcError):
    """The caller is known but may not do this (403)."""

    status_code = 403
    type_slug = "forbidden"
    title = "Forbidden"


class UnprocessableError(SvcError):
    """The request is well-formed but breaks a rule (422); put details under ``errors``."""

    status_code = 422
    type_slug = "validation-error"
    title = "Unprocessable Content"


class PreconditionFailedError(SvcError):
    """A precondition such as ``If-Match`` does not hold (412)."""

    status_code = 412
    type_slug = "precondition-failed"
    title = "Precondition Failed"


class PreconditionRequiredError(SvcError):
    """The route requires a precondition header such as ``If-Match`` (428)."""

    status_code = 428
    type_slug = "precondition-required"
    title = "Precondition Required"


class TooManyRequestsError(SvcError):
    """The caller must slow down (429); set ``Retry-After`` in ``headers``."""

    status_code = 429
    type_slug = "too-many-requests"
    title = "Too Many Requests"


def problem_body(
    status: int,
    *,
    detail: str | None = None,
    type_: str | None = None,
    title: str | None = None,
    extensions: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Build an RFC 9457 problem document.

    ``request_id`` defaults to the current request's id from :mod:`svc_core.context`.
    """
    body: dict[str, Any] = {
        "type": type_ or problem_type(_SLUGS.get(status, "error")),
        "title": title or _title_for(status),
        "status": status,
        "detail": detail or title or _title_for(status),
    }
    if extensions:
        for key, value in extensions.items():
            if key not in body:
                body[key] = value
    rid = request_id if request_id is not None else get_request_id()
    if rid is not None:
        body["request_id"] = rid
    return body


def problem_bytes(status: int, **kwargs: Any) -> bytes:
    """The problem document of :func:`problem_body`, serialised as compact UTF-8 JSON."""
    body = problem_body(status, **kwargs)
    return json.dumps(body, separators=(",", ":"), default=_json_default).encode()


def _json_default(value: Any) -> str:
    # An extension value JSON cannot encode (a datetime, a UUID) must not turn the error
    # response itself into a 500: dates become ISO 8601, anything else its str().
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat()) if callable(isoformat) else str(value)


def problem_response(
    status: int,
    *,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Response:
    """A Starlette response holding a problem document."""
    return Response(
        content=problem_bytes(status, **kwargs),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=dict(headers or {}),
    )


def _validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        out.append({"loc": loc, "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))})
    return out


def _unsupported_body(body: Any, errors: Sequence[Any]) -> bool:
    """A JSON body parameter failed because the body came with a non-JSON media type.

    FastAPI hands the body to validation as raw ``bytes`` exactly when the route expects
    JSON but the request's ``Content-Type`` is not ``application/json`` /
    ``application/*+json`` (or is missing); form routes get form data instead.
    """
    if not isinstance(body, bytes | bytearray) or not body:
        return False
    return any(tuple(e.get("loc", ()))[:1] == ("body",) for e in errors)


def log_server_error(exc: SvcError, where: str = "", *, log: logging.Logger | None = None) -> None:
    """Log a 5xx :class:`SvcError`: WARNING without traceback when ``expected``, else ERROR.

    Never the request's body or headers; ``where`` is a route template at most. ``log``
    defaults to the ``svc_core.errors`` logger.
    """
    target = log or logger
    suffix = f" ({where})" if where else ""
    if exc.expected:
        target.warning("request refused%s: %s: %s", suffix, type(exc).__name__, exc.detail)
    else:
        target.error("request failed%s: %s", suffix, type(exc).__name__, exc_info=exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register the problem+json exception handlers on ``app``.

    * :class:`SvcError` → its own status and problem;
    * Starlette ``HTTPException`` (404 unknown route, 405 wrong method, …) → problem;
    * FastAPI ``RequestValidationError`` → 400 when the body is not valid JSON, 415 when
      a JSON body came with another (or no) ``Content-Type`` (e.g. ``text/plain`` or a
      form), else 422 with the invalid fields under ``errors``;
    * anything else → 500 with a generic detail (the exception is logged, never sent).
    """
    # Imported here: importing svc_core.errors (settings, plugins) must stay light.
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    async def svc_error_handler(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SvcError)
        if exc.status_code >= 500:
            log_server_error(exc)
        return problem_response(
            exc.status_code,
            headers=exc.headers,
            detail=exc.detail,
            type_=exc.type,
            title=exc.title,
            extensions=exc.extensions,
        )

    async def http_exception_handler(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        raw: Any = exc.detail  # FastAPI's HTTPException allows any JSON value here
        detail = raw if isinstance(raw, str) else _title_for(exc.status_code)
        return problem_response(exc.status_code, headers=dict(exc.headers or {}), detail=detail)

    async def validation_handler(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        if _unsupported_body(exc.body, errors):
            # FastAPI parses JSON only for a JSON Content-Type and otherwise validates the
            # raw bytes, which fails as "not an object": the real error is the media type.
            return problem_response(
                415,
                detail="The request body must be sent as application/json.",
                headers={"Accept": "application/json"},
            )
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem_response(
                400,
                type_=problem_type("malformed-json"),
                title="Malformed JSON",
                detail="The request body is not valid JSON.",
            )
        return problem_response(
            422,
            detail="The request is well-formed but some fields are invalid.",
            extensions={"errors": _validation_errors(errors)},
        )

    async def unhandled_handler(_request: Request, exc: Exception) -> Response:
        logger.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
        return problem_response(500, detail="An unexpected error occurred.")

    app.add_exception_handler(SvcError, svc_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(Exception, unhandled_handler)
