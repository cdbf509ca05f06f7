"""Per-route policies: a FastAPI dependency and a decorator.

``Depends(rate_limit("5/minute", name="search"))`` (or ``dependencies=[…]`` on the route or
router) gives a route its own policy, which *replaces* the default policy on that route.
With :class:`~svc_ratelimit.RateLimitMiddleware` installed (``svc_infra.create_app()``
does it) the middleware finds the route, decides once and the dependency only checks that
it did; without the middleware the dependency decides by itself (it then needs the
service in ``runtime.state`` or a ``service=`` argument). ``@limit("5/minute")`` marks an
endpoint the same way, for the middleware only.

``Depends(concurrency_limit(10))`` caps the requests of one partition in flight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Request, Response  # noqa: TC002 - FastAPI reads the annotations at runtime

from svc_ratelimit.errors import RateLimitExceededError, SvcRatelimitError
from svc_ratelimit.limiter import ConcurrencyLimit
from svc_ratelimit.middleware import ROUTE_LIMIT_ATTR, SCOPE_KEY
from svc_ratelimit.policy import KeyBy, Policy, StoreErrorMode

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from svc_ratelimit.algorithms import Algorithm
    from svc_ratelimit.middleware import RateLimitService

__all__ = [
    "SERVICE_STATE_KEY",
    "RouteLimit",
    "concurrency_limit",
    "declared_limits",
    "limit",
    "rate_limit",
]

#: Key of the :class:`~svc_ratelimit.middleware.RateLimitService` in ``runtime.state``.
SERVICE_STATE_KEY = "svc_ratelimit.service"

_F = TypeVar("_F", bound="Callable[..., Any]")


def _service_of(request: Request, explicit: RateLimitService | None) -> RateLimitService:
    if explicit is not None:
        return explicit
    runtime = getattr(request.app.state, "runtime", None)
    service = runtime.state.get(SERVICE_STATE_KEY) if runtime is not None else None
    if service is None:
        msg = (
            "no rate-limit service: install svc-ratelimit's plugin (svc_infra.create_app) "
            "or pass service= to rate_limit()"
        )
        raise SvcRatelimitError(msg)
    return service  # type: ignore[no-any-return]


class RouteLimit:
    """A route's own policy, usable as a FastAPI dependency (see :func:`rate_limit`).

    Attributes:
        policy: The route's policy.
    """

    def __init__(self, policy: Policy, *, service: RateLimitService | None = None) -> None:
        self.policy = policy
        self._service = service

    async def __call__(self, request: Request, response: Response) -> None:
        """Decide unless the middleware already did; 429 with the fields when refused."""
        if request.scope.get(SCOPE_KEY) is self:
            return
        service = _service_of(request, self._service)
        decision = await service.decide(request.scope, self.policy)
        if decision is None:
            return
        request.scope[SCOPE_KEY] = self
        if not decision.allowed:
            raise RateLimitExceededError(
                decision.violated, decision.retry_after, headers=dict(decision.headers())
            )
        for name, value in decision.headers():
            response.headers[name] = value


def rate_limit(
    limits: str | Policy,
    *,
    name: str = "route",
    algorithm: Algorithm = "sliding_window",
    key_by: KeyBy = "principal",
    on_store_error: StoreErrorMode | None = None,
    quota: str | None = None,
    cost: int = 1,
    service: RateLimitService | None = None,
) -> RouteLimit:
    """A dependency giving a route its own policy: ``Depends(rate_limit("5/minute"))``.

    Args:
        limits: A limit string (``"10/second;1000/hour"``) or a :class:`Policy`.
        name: The policy's name (headers, ``violated-policies``, storage keys). Routes
            sharing a name and a partition share their counts.
        algorithm: ``sliding_window``, ``fixed_window`` or ``gcra``.
        key_by: ``principal`` (default) or ``client``.
        on_store_error: ``open``, ``closed`` or ``local`` (``None``: the service's).
        quota: Quota name for per-tenant overrides (``None``: none).
        cost: Units one request consumes.
        service: The service to use without the plugin.

    Raises:
        InvalidLimitError: ``limits`` does not parse or is ``"off"``.
    """
    if isinstance(limits, Policy):
        policy = limits
    else:
        parsed = Policy.parse(
            name,
            limits,
            algorithm=algorithm,
            key_by=key_by,
            on_store_error=on_store_error,
            quota=quota,
            cost=cost,
        )
        if parsed is None:
            from svc_ratelimit.errors import InvalidLimitError

            msg = "a route limit cannot be 'off'; leave the dependency out instead"
            raise InvalidLimitError(msg)
        policy = parsed
    return RouteLimit(policy, service=service)


def limit(limits: str | Policy, **options: Any) -> Callable[[_F], _F]:
    """Decorator form of :func:`rate_limit` for an endpoint (needs the middleware).

    Put it *under* the route decorator::

        @app.get("/search")
        @limit("5/minute", name="search")
        async def search(): ...
    """
    marker = rate_limit(limits, **options)

    def decorate(endpoint: _F) -> _F:
        setattr(endpoint, ROUTE_LIMIT_ATTR, marker)
        return endpoint

    return decorate


def _find_marker(dependant: Any) -> RouteLimit | None:
    for dep in getattr(dependant, "dependencies", ()):
        if isinstance(dep.call, RouteLimit):
            return dep.call
        found = _find_marker(dep)
        if found is not None:
            return found
    return None


def declared_limits(app: Any) -> list[tuple[Any, RouteLimit, Policy]]:
    """Routes of ``app`` with their own limit: ``(route, marker, policy)``."""
    out: list[tuple[Any, RouteLimit, Policy]] = []
    for route in getattr(getattr(app, "router", None), "routes", ()):
        marker = getattr(getattr(route, "endpoint", None), ROUTE_LIMIT_ATTR, None)
        if not isinstance(marker, RouteLimit):
            marker = _find_marker(getattr(route, "dependant", None))
        if marker is not None:
            out.append((route, marker, marker.policy))
    return out


def concurrency_limit(
    max_in_flight: int,
    *,
    name: str = "concurrency",
    lease: float = 60.0,
    key_by: KeyBy = "principal",
    on_store_error: StoreErrorMode | None = None,
    service: RateLimitService | None = None,
) -> Callable[[Request], AsyncIterator[None]]:
    """A dependency allowing at most ``max_in_flight`` requests of a partition at once.

    Over the cap the request gets 429 with ``Retry-After: 1``. A slot is held until the
    response is sent; a crashed process's slots come back after ``lease`` seconds.
    """
    cap = ConcurrencyLimit(name, max_in_flight, lease, key_by, on_store_error)

    async def dependency(request: Request) -> AsyncIterator[None]:
        from svc_core.context import get_principal

        svc = _service_of(request, service)
        principal = get_principal()
        if principal is not None and key_by == "principal":
            identity = "p:" + principal.subject
        else:
            identity = "ip:" + svc.client_address(request.scope)
        async with svc.limiter.concurrency(cap, identity):
            yield

    return dependency
