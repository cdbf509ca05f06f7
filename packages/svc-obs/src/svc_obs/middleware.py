"""Pure-ASGI middleware: request metrics (order 150) and maintenance mode (order 300)."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from svc_core.errors import problem_bytes, problem_type
from svc_obs import metrics
from svc_obs.metrics import UNMATCHED_ROUTE

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from svc_obs.maintenance import Maintenance

__all__ = [
    "MAINTENANCE_ORDER",
    "METRICS_ENDPOINT_ORDER",
    "METRICS_ORDER",
    "MaintenanceMiddleware",
    "MetricsEndpointMiddleware",
    "MetricsMiddleware",
    "route_template",
]

PROBLEM: Final = "application/problem+json"
_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)

#: Position of :class:`MetricsMiddleware` in the stack (outside security headers).
METRICS_ORDER: Final = 150
#: Position of :class:`MetricsEndpointMiddleware` (inside the security headers).
METRICS_ENDPOINT_ORDER: Final = 250
#: Position of :class:`MaintenanceMiddleware` in the stack.
MAINTENANCE_ORDER: Final = 300


def route_template(scope: Scope) -> str:
    """The route template the router matched for ``scope`` (after the app ran).

    Starlette and FastAPI put the matched route into ``scope["route"]``; its ``path``
    is the template (``/projects/{id}``), never the raw path. No match gives
    :data:`~svc_obs.metrics.UNMATCHED_ROUTE`.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED_ROUTE
    return path


class MetricsMiddleware:
    """Count HTTP requests and time them, labelled by method, route template and status.

    Records ``http_server_requests_total``, ``http_server_request_duration_seconds`` and
    ``http_server_requests_in_flight``. The duration runs from the request's arrival to
    the last body chunk of the response. A request whose handler raised without
    responding counts as status 500.

    A request answered before routing (by authentication, a rate limit, a body
    limit …) carries no matched route; ``resolve`` (given by the plugin) then matches
    the path against the app's routes, so such answers keep their template too.

    Args:
        app: The ASGI application to wrap.
        resolve: ``scope -> template or None`` for requests the router did not see.
    """

    def __init__(
        self, app: ASGIApp, *, resolve: Callable[[Scope], str | None] | None = None
    ) -> None:
        self.app = app
        self.resolve = resolve
        # (method, route, status) -> (counter child, histogram child): labels() costs
        # several microseconds; a dict lookup is ~50 ns.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _child(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, status)
        child = self._children.get(key)
        if child is None:
            code = str(status)
            child = (
                metrics.REQUESTS.labels(method, route, code),
                metrics.DURATION.labels(method, route, code),
            )
            self._children[key] = child
        return child

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one ASGI connection; non-HTTP scopes pass through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_flight = metrics.IN_FLIGHT
        in_flight.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            in_flight.dec()
            method = scope["method"]
            if method not in _METHODS:
                method = "_OTHER"  # unknown methods must not create label values
            route = route_template(scope)
            if route is UNMATCHED_ROUTE and self.resolve is not None and status != 404:
                route = self.resolve(scope) or UNMATCHED_ROUTE
            counter, histogram = self._child(method, route, status)
            counter.inc()
            histogram.observe(time.perf_counter() - start)


@dataclass(frozen=True, slots=True)
class _EndpointRoute:
    path: str


class MetricsEndpointMiddleware:
    """Serve the Prometheus exposition at ``path`` (``GET``/``HEAD``).

    It sits inside the security headers (order 250) and outside maintenance mode,
    authentication and rate limiting, so scrapes always work. With a ``token`` a
    scrape must send ``Authorization: Bearer <token>`` (else 401 problem+json).

    Args:
        app: The ASGI application to wrap.
        path: Where to serve the exposition.
        token: The bearer token scrapes must present, or ``None`` for an open endpoint.
    """

    def __init__(self, app: ASGIApp, *, path: str = "/metrics", token: str | None = None) -> None:
        self.app = app
        self.path = path
        self._route = _EndpointRoute(path)
        self._auth = ("bearer " + token).encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer scrapes; every other request goes on to the app."""
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        scope["route"] = self._route
        await self._serve(scope, send)

    def _authorized(self, scope: Scope) -> bool:
        if self._auth is None:
            return True
        for key, value in scope["headers"]:
            if key == b"authorization":
                scheme, _, token = value.partition(b" ")
                given = scheme.lower() + b" " + token.strip()
                return hmac.compare_digest(given, self._auth)
        return False

    async def _serve(self, scope: Scope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            status, body, ctype, extra = 405, problem_bytes(405), PROBLEM, [(b"allow", b"GET")]
        elif not self._authorized(scope):
            status, ctype = 401, PROBLEM
            body = problem_bytes(401, detail="The metrics endpoint requires its bearer token.")
            extra = [(b"www-authenticate", b'Bearer realm="metrics"')]
        else:
            status, body, ctype, extra = 200, metrics.exposition(), metrics.CONTENT_TYPE, []
        headers = [
            (b"content-type", ctype.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        payload = b"" if scope["method"] == "HEAD" else body
        await send({"type": "http.response.body", "body": payload})


class MaintenanceMiddleware:
    """Answer 503 problem+json with ``Retry-After`` while maintenance mode is on.

    Paths starting with one of ``exempt`` (the ops routes and the metrics endpoint)
    are always served, so probes, scrapes and the admin toggle keep working.

    Args:
        app: The ASGI application to wrap.
        maintenance: The shared maintenance switch.
        exempt: Path prefixes never blocked.
    """

    def __init__(
        self, app: ASGIApp, *, maintenance: Maintenance, exempt: Sequence[str] = ()
    ) -> None:
        self.app = app
        self.maintenance = maintenance
        self.exempt = tuple(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one ASGI connection; non-HTTP scopes pass through untouched."""
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        state = await self.maintenance.current()
        if not state.enabled:
            await self.app(scope, receive, send)
            return
        body = problem_bytes(
            503,
            type_=problem_type("maintenance"),
            title="Service Under Maintenance",
            detail=state.reason or "The service is under maintenance; try again later.",
        )
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(state.retry_after).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
