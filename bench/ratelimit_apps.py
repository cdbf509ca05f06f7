"""svc-ratelimit apps for the HTTP benchmark (served from the workspace venv).

Every app answers GET /ping with ``{"ok": true}``, like the shared anchors, and limits it
with a quota that never triggers during a run (``10000000/minute``), so the cost measured
is the decision, the counting and the RateLimit fields on every response:

* ``svc_rl_mem``: bare FastAPI + :class:`~svc_ratelimit.RateLimitMiddleware` with the
  default policy on the in-process store (the embedded profile);
* ``svc_rl_mem_route``: bare FastAPI + ``Depends(rate_limit(...))`` on the route (no
  middleware), in-process store — the shape of slowapi's decorator;
* ``svc_rl_redis``: the middleware on Redis (``BENCH_REDIS_URL``): one ``EVALSHA`` per
  request, server time inside the script;
* ``svc_rl_redis_route``: the route dependency on Redis.

The default algorithm (sliding window counter) is used throughout; ``BENCH_RL_ALGORITHM``
picks another.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI

from svc_core.kv import KV, MemoryKV, RedisKV
from svc_ratelimit import (
    ClientAddressResolver,
    Policy,
    RateLimiter,
    RateLimitMiddleware,
    RateLimitService,
    rate_limit,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6390")
NEVER = "10000000/minute"
ALGORITHM: Any = os.environ.get("BENCH_RL_ALGORITHM", "sliding_window")
ALL = ["svc_rl_mem", "svc_rl_mem_route", "svc_rl_redis", "svc_rl_redis_route"]
REDIS_APPS = {"svc_rl_redis", "svc_rl_redis_route"}


def _app(kv: KV, *, route: bool) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await kv.aclose()

    service = RateLimitService(RateLimiter(kv), ClientAddressResolver())
    app = FastAPI(lifespan=lifespan)
    policy = Policy.parse("default", NEVER, algorithm=ALGORITHM)
    assert policy is not None
    deps = [Depends(rate_limit(policy, service=service))] if route else []

    @app.get("/ping", dependencies=deps, response_model=None)
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    if not route:
        app.add_middleware(RateLimitMiddleware, service=service, default=policy)
    return app


def svc_rl_mem() -> FastAPI:
    return _app(MemoryKV("bench:"), route=False)


def svc_rl_mem_route() -> FastAPI:
    return _app(MemoryKV("bench:"), route=True)


def svc_rl_redis() -> FastAPI:
    return _app(RedisKV(REDIS_URL, "bench:"), route=False)


def svc_rl_redis_route() -> FastAPI:
    return _app(RedisKV(REDIS_URL, "bench:"), route=True)
