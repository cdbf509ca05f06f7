"""How svc-ratelimit joins ``svc_infra.create_app()``: the middleware at order 700.

The plugin reads :class:`~svc_ratelimit.settings.RatelimitSettings` (``SVC_RATELIMIT__…``),
builds one :class:`~svc_ratelimit.RateLimiter` on ``runtime.kv`` and one
:class:`~svc_ratelimit.middleware.RateLimitService` (kept in
``runtime.state[SERVICE_STATE_KEY]`` for the route dependencies), and adds
:class:`~svc_ratelimit.RateLimitMiddleware` with the default, auth and per-route policies.
Per-tenant overrides come from the :class:`~svc_core.quotas.QuotaProvider` in
``runtime.state[QUOTA_PROVIDER_KEY]``, looked up per request.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from svc_core.plugin import BasePlugin, MiddlewareSpec
from svc_core.quotas import QUOTA_PROVIDER_KEY
from svc_ratelimit.dependencies import SERVICE_STATE_KEY
from svc_ratelimit.keys import ClientAddressResolver
from svc_ratelimit.limiter import AbuseHook, RateLimiter
from svc_ratelimit.middleware import RateLimitMiddleware, RateLimitService
from svc_ratelimit.policy import Policy
from svc_ratelimit.resolver import PolicyResolver
from svc_ratelimit.settings import RatelimitSettings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastapi import FastAPI

    from svc_core.plugin import Runtime

__all__ = ["MIDDLEWARE_ORDER", "RatelimitPlugin"]

#: Inside auth (650, so the principal is known), outside tenancy (750) and idempotency.
MIDDLEWARE_ORDER = 700


def _route_name(pattern: str) -> str:
    """A policy name from a route pattern: ``"POST /_dev/echo"`` → ``"post-_dev-echo"``."""
    slug = re.sub(r"[^a-z0-9_.\-]+", "-", pattern.lower()).strip("-")
    return slug[:64] or "route"


class RatelimitPlugin(BasePlugin):
    """The plugin of svc-ratelimit, registered as ``ratelimit`` in ``svc_infra.plugins``.

    Args:
        settings: The package settings; read from the environment when omitted.
        abuse_hook: Called on repeated rejections of one partition (see
            :class:`~svc_ratelimit.RateLimiter`).
    """

    name = "ratelimit"

    def __init__(
        self, settings: RatelimitSettings | None = None, *, abuse_hook: AbuseHook | None = None
    ) -> None:
        self._settings = settings
        self._abuse_hook = abuse_hook

    def _service(self, runtime: Runtime) -> RateLimitService:
        service = runtime.state.get(SERVICE_STATE_KEY)
        if isinstance(service, RateLimitService):
            return service
        cfg = self.settings
        limiter = RateLimiter(
            runtime.kv,
            on_store_error=cfg.on_store_error,
            retry_store_after=cfg.retry_store_seconds,
            abuse_hook=self._abuse_hook,
            abuse_threshold=cfg.abuse_threshold,
            abuse_window=cfg.abuse_window,
        )
        resolver = PolicyResolver(
            quota_provider=lambda: runtime.state.get(QUOTA_PROVIDER_KEY),
            plans=cfg.plans,
            plan_claim=cfg.plan_claim,
            cache_seconds=cfg.quota_cache_seconds,
        )
        service = RateLimitService(
            limiter, ClientAddressResolver(runtime.settings.http.trusted_proxies), resolver
        )
        runtime.state[SERVICE_STATE_KEY] = service
        return service

    @property
    def settings(self) -> RatelimitSettings:
        """The package settings (read from the environment on first use)."""
        if self._settings is None:
            self._settings = RatelimitSettings()
        return self._settings

    def setup(self, app: FastAPI, runtime: Runtime) -> None:
        """Build the limiter and keep the service in ``runtime.state`` for dependencies."""
        self._service(runtime)

    def middleware(self, runtime: Runtime) -> Sequence[MiddlewareSpec]:
        """The rate-limit layer, or nothing when every policy is off."""
        cfg = self.settings
        algo = cfg.algorithm
        default = Policy.parse("default", cfg.default, algorithm=algo, quota=cfg.quota_name)
        auth = Policy.parse(
            "auth",
            cfg.auth_limits(prod=runtime.settings.is_prod),
            algorithm=algo,
            key_by="client",
            on_store_error="closed",
        )
        routes: dict[str, Policy] = {}
        for pattern, text in cfg.routes.items():
            policy = Policy.parse(_route_name(pattern), text, algorithm=algo, quota=None)
            if policy is not None:
                routes[pattern.strip()] = policy
        if default is None and auth is None and not routes:
            return []  # nothing to limit globally; route dependencies decide by themselves
        options = {
            "service": self._service(runtime),
            "default": default,
            "auth": auth,
            "auth_paths": cfg.auth_paths,
            "routes": routes,
            "exempt_paths": cfg.exempt_paths,
        }
        return [MiddlewareSpec("ratelimit", MIDDLEWARE_ORDER, RateLimitMiddleware, options)]
