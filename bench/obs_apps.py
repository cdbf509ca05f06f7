"""svc-obs apps for the metrics benchmark (served by ``bench/obs_http.py``).

Every app serves GET /ping -> ``{"ok": true}`` like the shared anchors:

* ``obs_metrics``: FastAPI + svc-obs' ``MetricsMiddleware`` (request counter, duration
  histogram, in-flight gauge, labelled by route template) and the ``/metrics`` endpoint
  (present, not scraped during the run) — the like-for-like peer of
  prometheus-fastapi-instrumentator's defaults;
* ``obs_layers``: the same plus the maintenance-mode layer (in-memory store), i.e. every
  svc-obs layer a request crosses in a service.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from svc_core.http import apply_middleware
from svc_core.kv import MemoryKV
from svc_core.plugin import MiddlewareSpec
from svc_obs import Maintenance, MaintenanceMiddleware, MetricsEndpointMiddleware, MetricsMiddleware


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping", response_model=None)
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


def obs_metrics() -> Any:
    """FastAPI + svc-obs metrics middleware and endpoint."""
    return apply_middleware(
        _app(),
        [
            MiddlewareSpec("metrics", 150, MetricsMiddleware),
            MiddlewareSpec("metrics_endpoint", 250, MetricsEndpointMiddleware),
        ],
    )


def obs_layers() -> Any:
    """FastAPI + every svc-obs layer (metrics, endpoint, maintenance on a memory store)."""
    maintenance = Maintenance(MemoryKV())
    return apply_middleware(
        _app(),
        [
            MiddlewareSpec("metrics", 150, MetricsMiddleware),
            MiddlewareSpec("metrics_endpoint", 250, MetricsEndpointMiddleware),
            MiddlewareSpec(
                "maintenance",
                300,
                MaintenanceMiddleware,
                {"maintenance": maintenance, "exempt": ("/_ops/", "/metrics")},
            ),
        ],
    )
