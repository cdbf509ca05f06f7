"""svc-ratelimit: atomic rate limits on memory and Redis with the IETF RateLimit headers.

Install with ``pip install svc-ratelimit`` (``svc-ratelimit[redis]`` for Redis) or
``pip install "svc-infra[ratelimit]"``. ``svc_infra.create_app()`` discovers
:class:`RatelimitPlugin` and adds :class:`RateLimitMiddleware` (order 700) configured by
``SVC_RATELIMIT__DEFAULT``, ``SVC_RATELIMIT__AUTH`` and ``SVC_RATELIMIT__ON_STORE_ERROR``::

    # SVC_RATELIMIT__DEFAULT="100/minute;2000/hour"
    from fastapi import Depends
    from svc_infra import create_app
    from svc_ratelimit import concurrency_limit, rate_limit

    app = create_app()

    @app.get("/search", dependencies=[Depends(rate_limit("10/second;300/hour", name="search"))])
    async def search(q: str) -> list[str]: ...   # its own policy instead of the default

    @app.post("/reports", dependencies=[Depends(concurrency_limit(2))])
    async def report() -> dict[str, str]: ...    # at most 2 in flight per caller

Library use, without the plugin::

    limiter = RateLimiter(kv)                    # any svc_core.kv.KV
    policy = Policy.parse("api", "5/second")
    decision = await limiter.hit(policy, "ip:203.0.113.7", tenant="acme")
    decision.allowed, decision.retry_after, decision.headers()

Refusals are 429 problems of type ``…#quota-exceeded`` (:class:`RateLimitExceededError`);
a store outage on a fail-closed policy is a 503 (:class:`RateLimiterUnavailableError`).
"""

from importlib.metadata import version as _version

from svc_ratelimit.algorithms import Algorithm
from svc_ratelimit.dependencies import (
    SERVICE_STATE_KEY,
    RouteLimit,
    concurrency_limit,
    limit,
    rate_limit,
)
from svc_ratelimit.errors import (
    InvalidLimitError,
    RateLimiterUnavailableError,
    RateLimitExceededError,
    SvcRatelimitError,
)
from svc_ratelimit.keys import ClientAddressResolver, partition_key
from svc_ratelimit.limiter import AbuseEvent, AbuseHook, ConcurrencyLimit, RateLimiter
from svc_ratelimit.limits import Limit, format_limits, parse_limits
from svc_ratelimit.middleware import RateLimitMiddleware, RateLimitService
from svc_ratelimit.plugin import MIDDLEWARE_ORDER, RatelimitPlugin
from svc_ratelimit.policy import Decision, KeyBy, Policy, QuotaState, StoreErrorMode
from svc_ratelimit.resolver import PolicyResolver
from svc_ratelimit.settings import RatelimitSettings

__version__ = _version("svc-ratelimit")
__all__ = [
    "MIDDLEWARE_ORDER",
    "SERVICE_STATE_KEY",
    "AbuseEvent",
    "AbuseHook",
    "Algorithm",
    "ClientAddressResolver",
    "ConcurrencyLimit",
    "Decision",
    "InvalidLimitError",
    "KeyBy",
    "Limit",
    "Policy",
    "PolicyResolver",
    "QuotaState",
    "RateLimitExceededError",
    "RateLimitMiddleware",
    "RateLimitService",
    "RateLimiter",
    "RateLimiterUnavailableError",
    "RatelimitPlugin",
    "RatelimitSettings",
    "RouteLimit",
    "StoreErrorMode",
    "SvcRatelimitError",
    "__version__",
    "concurrency_limit",
    "format_limits",
    "limit",
    "parse_limits",
    "partition_key",
    "rate_limit",
]
