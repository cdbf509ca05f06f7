"""OpenTelemetry tracing (``pip install "svc-obs[otel]"``).

:class:`TracingMiddleware` opens one server span per HTTP request, continuing the
caller's trace from the ``traceparent`` header, and names it after the route template
(``GET /projects/{id}``), never the raw path. :func:`instrument` adds it and turns on
the SQLAlchemy (the runtime's engine) and httpx instrumentations. Spans go to the
global tracer provider unless one is passed: configure exporters the usual way
(``opentelemetry-sdk``, ``OTEL_*`` variables). Log lines then carry ``trace_id``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from svc_core.errors import MissingDependencyError
from svc_obs.metrics import UNMATCHED_ROUTE
from svc_obs.middleware import route_template

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("opentelemetry-sdk", package="svc-obs", extra="otel") from exc

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from svc_core.plugin import Runtime

__all__ = ["TRACING_ORDER", "TracingMiddleware", "instrument", "uninstrument"]

#: Position of :class:`TracingMiddleware`: just inside the request id, outside metrics.
TRACING_ORDER: Final = 140


class _HeaderGetter:
    def get(self, carrier: dict[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        return None if value is None else [value]

    def keys(self, carrier: dict[str, str]) -> list[str]:
        return list(carrier)


_GETTER: Final = _HeaderGetter()


class TracingMiddleware:
    """A server span per HTTP request, named ``"{method} {route template}"``.

    Args:
        app: The ASGI application to wrap.
        tracer_provider: Where spans go (default: the global provider).
        resolve: ``scope -> template or None`` for requests answered before routing.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        tracer_provider: Any = None,
        resolve: Callable[[Scope], str | None] | None = None,
    ) -> None:
        self.app = app
        self.tracer = trace.get_tracer("svc_obs", tracer_provider=tracer_provider)
        self.resolve = resolve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one ASGI connection inside a span; non-HTTP scopes pass through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        parent = propagate.extract(headers, getter=_GETTER)  # type: ignore[arg-type]
        method = scope["method"]
        status = 500
        with self.tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
            },
        ) as span:

            async def send_with_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, send_with_status)
            finally:
                route = route_template(scope)
                if route is UNMATCHED_ROUTE and self.resolve is not None and status != 404:
                    route = self.resolve(scope) or UNMATCHED_ROUTE
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))


def instrument(runtime: Runtime, *, tracer_provider: Any = None) -> None:
    """Trace the runtime's SQLAlchemy engine and every httpx client.

    Raises:
        MissingDependencyError: The instrumentation packages are not installed.
    """
    try:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    except ImportError as exc:
        raise MissingDependencyError(
            "opentelemetry-instrumentation", package="svc-obs", extra="otel"
        ) from exc
    # The instrumentation declares sqlalchemy < 2.1 but works with 2.1 (tested here).
    SQLAlchemyInstrumentor().instrument(
        engine=runtime.database.engine.sync_engine,
        tracer_provider=tracer_provider,
        skip_dep_check=True,
    )
    httpx_instrumentor = HTTPXClientInstrumentor()
    if not httpx_instrumentor.is_instrumented_by_opentelemetry:
        httpx_instrumentor.instrument(tracer_provider=tracer_provider)


def uninstrument() -> None:
    """Undo :func:`instrument` (used at shutdown and in tests)."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    sqlalchemy_instrumentor = SQLAlchemyInstrumentor()
    if sqlalchemy_instrumentor.is_instrumented_by_opentelemetry:
        sqlalchemy_instrumentor.uninstrument()
    httpx_instrumentor = HTTPXClientInstrumentor()
    if httpx_instrumentor.is_instrumented_by_opentelemetry:
        httpx_instrumentor.uninstrument()
