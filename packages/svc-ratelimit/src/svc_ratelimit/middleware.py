"""The pure-ASGI rate-limit middleware (order 700: inside auth, outside tenancy).

For each HTTP request it picks a policy — the auth policy on auth routes, a per-route
policy (settings or :func:`~svc_ratelimit.rate_limit` / :func:`~svc_ratelimit.limit` on the
route), else the default — resolves per-tenant and per-plan overrides, decides, and then
either answers 429 / 503 itself or lets the request through with the RateLimit fields
added to the response. ``/_ops/*`` and ``/metrics`` are never limited by the default.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.routing import Match

from svc_core.context import Principal, get_principal, get_tenant_id
from svc_core.errors import PROBLEM_CONTENT_TYPE, SvcError, problem_bytes
from svc_ratelimit.errors import RateLimiterUnavailableError, RateLimitExceededError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterable, Mapping

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from svc_ratelimit.keys import ClientAddressResolver
    from svc_ratelimit.limiter import RateLimiter
    from svc_ratelimit.policy import Decision, Policy
    from svc_ratelimit.resolver import PolicyResolver

__all__ = ["ROUTE_LIMIT_ATTR", "SCOPE_KEY", "RateLimitMiddleware", "RateLimitService"]

logger = logging.getLogger("svc_ratelimit")

#: Where the middleware leaves the route limit it enforced, so the route's dependency
#: does not count the request twice.
SCOPE_KEY = "svc_ratelimit.enforced"
#: The attribute :func:`~svc_ratelimit.limit` puts on an endpoint.
ROUTE_LIMIT_ATTR = "__svc_ratelimit__"
_ALWAYS_EXEMPT = ("/_ops/*", "/metrics")


def _tenant_of(principal: Principal | None) -> str | None:
    tenant = get_tenant_id()
    if tenant is None and principal is not None:
        # svc-tenancy sets the context tenant inside this layer; the credential's
        # tenant claim is what it will use, so read that here.
        claim = principal.claims.get("tid") or principal.claims.get("tenant_id")
        tenant = str(claim) if claim else None
    return tenant


@dataclass(slots=True)
class RateLimitService:
    """Decides requests: identity, tenant, overrides and the limiter, in one place.

    Shared by the middleware and the route dependency (kept in
    ``runtime.state[SERVICE_STATE_KEY]`` by the plugin).

    Attributes:
        limiter: The limiter.
        client_address: Finds the client address (trusted proxies only).
        resolver: Per-tenant / per-plan overrides (``None``: policies as declared).
    """

    limiter: RateLimiter
    client_address: ClientAddressResolver
    resolver: PolicyResolver | None = None

    async def decide(
        self, scope: Scope, policy: Policy, *, by_client: bool = False
    ) -> Decision | None:
        """Count the request of ``scope`` against ``policy``; ``None`` if unlimited.

        Raises:
            RateLimiterUnavailableError: The store is down and the policy fails closed.
        """
        principal = get_principal()
        tenant = _tenant_of(principal)
        identity = self._identity(scope, policy, principal, by_client)
        if self.resolver is not None and (tenant is not None or principal is not None):
            resolved = await self.resolver.resolve(policy, tenant=tenant, principal=principal)
            if resolved is None:
                return None
            policy = resolved
        return await self.limiter.hit(policy, identity, tenant=tenant)

    def decide_nowait(
        self, scope: Scope, policy: Policy, *, by_client: bool = False
    ) -> Decision | None:
        """:meth:`decide` without awaiting, or ``None`` when it must be awaited.

        Possible when the limiter decides in this process and no per-tenant or per-plan
        override has to be looked up (an anonymous caller outside any tenant, or no
        resolver): the embedded profile's common case.
        """
        limiter = self.limiter
        if not limiter.in_process:
            return None
        principal = get_principal()
        tenant = _tenant_of(principal)
        if self.resolver is not None and (tenant is not None or principal is not None):
            return None
        identity = self._identity(scope, policy, principal, by_client)
        return limiter.hit_nowait(policy, identity, tenant)

    def _identity(
        self, scope: Scope, policy: Policy, principal: Principal | None, by_client: bool
    ) -> str:
        """Whom the request counts against: the principal, or the client address."""
        if principal is not None and not by_client and policy.key_by == "principal":
            return "p:" + principal.subject
        return "ip:" + self.client_address(scope)


def _split(patterns: Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    exact = {p for p in patterns if not p.endswith("*")}
    prefixes = tuple(p[:-1] for p in patterns if p.endswith("*"))
    return frozenset(exact), prefixes


def _encode(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]


async def send_error(send: Send, exc: SvcError) -> None:
    """Send ``exc`` as a complete problem+json response over raw ASGI."""
    body = problem_bytes(
        exc.status_code,
        detail=exc.detail,
        type_=exc.type,
        title=exc.title,
        extensions=exc.extensions,
    )
    headers = [
        (b"content-type", PROBLEM_CONTENT_TYPE.encode("latin-1")),
        (b"content-length", str(len(body)).encode("latin-1")),
        *_encode(exc.headers.items()),
    ]
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RateLimitMiddleware:
    """Applies the auth, per-route and default policies to every HTTP request.

    Args:
        app: The wrapped ASGI app.
        service: Takes the decisions.
        default: The default policy (``None``: none).
        auth: The auth routes' policy (``None``: none); always keyed by client address
            and failing closed.
        auth_paths: The auth routes (a trailing ``*`` is a prefix match).
        routes: Per-route policies: ``"METHOD /path"`` or ``"/path"`` (trailing ``*`` =
            prefix) → policy; they replace the default on those routes.
        exempt_paths: Paths the default policy skips, besides ``/_ops/*`` and ``/metrics``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: RateLimitService,
        default: Policy | None = None,
        auth: Policy | None = None,
        auth_paths: Iterable[str] = (),
        routes: Mapping[str, Policy] | None = None,
        exempt_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.service = service
        self.default = default
        self.auth = auth
        self._auth_exact, self._auth_prefixes = _split(auth_paths)
        self._exempt_exact, self._exempt_prefixes = _split((*_ALWAYS_EXEMPT, *exempt_paths))
        self._routes_exact: dict[str, Policy] = {}
        self._routes_prefix: list[tuple[str, Policy]] = []
        for pattern, policy in (routes or {}).items():
            if pattern.endswith("*"):
                self._routes_prefix.append((pattern[:-1], policy))
            else:
                self._routes_exact[pattern] = policy
        # Routes that declare their own limit (dependency or decorator), found on the
        # first request: (route, limit object, policy).
        self._declared: list[tuple[Any, Any, Policy]] | None = None

    def _declared_routes(self, scope: Scope) -> list[tuple[Any, Any, Policy]]:
        if self._declared is None:
            from svc_ratelimit.dependencies import declared_limits

            app = scope.get("app")
            self._declared = declared_limits(app) if app is not None else []
        return self._declared

    def _select(self, scope: Scope) -> tuple[Policy | None, bool, Any]:
        path: str = scope["path"]
        if self.auth is not None and (
            path in self._auth_exact or path.startswith(self._auth_prefixes)
        ):
            return self.auth, True, None
        if self._routes_exact or self._routes_prefix:
            found = self._routes_exact.get(f"{scope['method']} {path}") or self._routes_exact.get(
                path
            )
            if found is None:
                for prefix, policy in self._routes_prefix:
                    if (f"{scope['method']} {path}").startswith(prefix) or path.startswith(prefix):
                        found = policy
                        break
            if found is not None:
                return found, False, None
        for route, marker, policy in self._declared_routes(scope):
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return policy, False, marker
        if path in self._exempt_exact or path.startswith(self._exempt_prefixes):
            return None, False, None
        return self.default, False, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Decide, then answer 429/503 or pass the request on with the RateLimit fields."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy, is_auth, marker = self._select(scope)
        if policy is None:
            await self.app(scope, receive, send)
            return
        try:
            decision = self.service.decide_nowait(scope, policy, by_client=is_auth)
            if decision is None:
                decision = await self.service.decide(scope, policy, by_client=is_auth)
        except RateLimiterUnavailableError as exc:
            await send_error(send, exc)
            return
        if marker is not None:
            scope[SCOPE_KEY] = marker
        if decision is None:
            await self.app(scope, receive, send)
            return
        if not decision.allowed:
            error = RateLimitExceededError(
                decision.violated, decision.retry_after, headers=dict(decision.headers())
            )
            await send_error(send, error)
            return
        extra = decision.raw_headers()
        if not extra:
            await self.app(scope, receive, send)
            return

        def send_with_headers(message: Message) -> Awaitable[None]:
            # A plain function returning send's awaitable: no extra coroutine per message.
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            return send(message)

        await self.app(scope, receive, send_with_headers)
