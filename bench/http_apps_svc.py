"""svc-infra apps for the shared HTTP anchor benchmark (``/work/shared/bench``).

Re-exports every factory of the shared ``http_apps`` module (so one
``uvicorn http_apps_svc:<name> --factory`` command line serves the peers and ours) and
adds:

* ``svc_core_stack``: FastAPI GET /ping -> ``{"ok": true}`` with ``install_error_handlers``
  and the whole ``svc_core.http.core_middleware`` stack built from default ``SvcSettings``
  (request id, security headers, body limit, handler timeout, error boundary; no CORS layer
  because no origin is configured);
* ``svc_core_stack_cors_prod``: the same with ``SVC_ENV=prod`` (HSTS) and one CORS origin,
  i.e. every core layer present;
* ``svc_core_stack_separate``: the default stack with the security headers in a layer of
  their own, as before they moved into the request-id layer (for the A/B).

The shared folder is found through ``SVC_SHARED_BENCH`` (default: ``../shared/bench``
beside the repository).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from svc_core.errors import install_error_handlers
from svc_core.http import RequestIdMiddleware, apply_middleware, core_middleware
from svc_core.settings import SvcSettings

SHARED_BENCH = Path(
    os.environ.get("SVC_SHARED_BENCH", Path(__file__).resolve().parents[2] / "shared" / "bench")
)
if str(SHARED_BENCH) not in sys.path:
    sys.path.append(str(SHARED_BENCH))

from http_apps import *  # noqa: E402, F403 - re-export the peers' factories
from http_apps import ALL as SHARED_ALL  # noqa: E402


def _svc_core_app(**settings: Any) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/ping", response_model=None)
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    apply_middleware(app, core_middleware(SvcSettings(**settings)))
    return app


def svc_core_stack() -> Any:
    """FastAPI + the full svc-core middleware stack from default settings."""
    return _svc_core_app()


def svc_core_stack_cors_prod() -> Any:
    """Every core layer: ``SVC_ENV=prod`` (HSTS) and a configured CORS origin."""
    return _svc_core_app(env="prod", http={"cors_origins": ["https://app.example.com"]})


def svc_core_stack_separate() -> Any:
    """The default stack as it was before 2026-11-28 17:00: the security headers in a
    layer of their own (order 200) instead of the request-id layer's response wrapper."""
    from svc_core.http import SecurityHeadersMiddleware
    from svc_core.plugin import MiddlewareSpec

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/ping", response_model=None)
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    specs = [
        MiddlewareSpec("request_id", 100, RequestIdMiddleware) if s.name == "request_id" else s
        for s in core_middleware(SvcSettings())
    ]
    specs.append(MiddlewareSpec("security_headers", 200, SecurityHeadersMiddleware))
    apply_middleware(app, specs)
    return app


OURS = ["svc_core_stack", "svc_core_stack_cors_prod", "svc_core_stack_separate"]
ALL = [*SHARED_ALL, *OURS]
