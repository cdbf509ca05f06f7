"""A fake upstream behind a circuit breaker, for the demo and acceptance tests.

Mounted only with ``SVC_OBS__DEMO_ROUTES=true`` and never with ``SVC_ENV=prod``:
``GET /_dev/obs/breaker?fail=true`` fails (502) like a broken upstream; after three
consecutive failures the breaker ``demo_upstream`` opens for every replica sharing the
store and the route answers 503 with ``Retry-After`` without calling the upstream.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from svc_core.errors import SvcError
from svc_obs.breaker import CircuitBreaker
from svc_obs.settings import ObsSettings

__all__ = ["UpstreamError", "demo_router"]


class UpstreamError(SvcError):
    """The fake upstream failed."""

    status_code = 502
    type_slug = "bad-gateway"
    title = "Bad Gateway"


def demo_router(settings: ObsSettings | None = None) -> APIRouter:
    """``GET /_dev/obs/breaker`` guarded by the breaker ``demo_upstream``."""
    cfg = settings or ObsSettings()
    breaker = CircuitBreaker(
        "demo_upstream", failure_threshold=3, reset_timeout=cfg.demo_breaker_reset
    )
    router = APIRouter(prefix="/_dev/obs", tags=["dev"], include_in_schema=False)

    @router.get("/breaker", dependencies=[Depends(breaker.dependency)])
    async def call_upstream(
        fail: Annotated[bool, Query(description="Make the upstream fail.")] = False,
    ) -> dict[str, str]:
        """Call the fake upstream through the breaker."""
        if fail:
            raise UpstreamError("The upstream failed.")
        return {"upstream": "ok"}

    return router
