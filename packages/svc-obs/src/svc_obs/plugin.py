"""How svc-obs joins ``svc_infra.create_app()`` and the ``svc-infra`` CLI.

* middleware: tracing (140, with ``SVC_OBS__TRACING``), metrics (150), the metrics
  endpoint (250) and maintenance mode (300);
* setup: the health checks (database, Redis), the ops routes and a wrapper around the
  app's lifespan that marks start-up done (start-up probe) and shutdown begun
  (readiness 503);
* startup: logging, the ``db_pool_*`` gauges, the breakers' default store, the
  SIGTERM drain hook, the separate metrics port, tracing;
* cli: ``svc-infra obs rules | dashboard | maintenance``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from svc_core.plugin import BasePlugin, MiddlewareSpec
from svc_obs import breaker, metrics
from svc_obs.health import register_health_check
from svc_obs.maintenance import Maintenance
from svc_obs.middleware import (
    MAINTENANCE_ORDER,
    METRICS_ENDPOINT_ORDER,
    METRICS_ORDER,
    MaintenanceMiddleware,
    MetricsEndpointMiddleware,
    MetricsMiddleware,
)
from svc_obs.router import ObsState, ops_router
from svc_obs.settings import ObsSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from types import FrameType

    from fastapi import FastAPI

    from svc_core.plugin import Runtime

__all__ = ["OBS_STATE_KEY", "ObsPlugin", "obs_state"]

logger = logging.getLogger("svc_obs")

#: Where svc-obs keeps its :class:`~svc_obs.router.ObsState` in ``runtime.state``.
OBS_STATE_KEY = "obs"


def obs_state(runtime: Runtime, settings: ObsSettings | None = None) -> ObsState:
    """svc-obs' state for ``runtime``, made on first use."""
    state = runtime.state.get(OBS_STATE_KEY)
    if state is None:
        cfg = settings or ObsSettings()
        state = ObsState(
            settings=cfg,
            maintenance=Maintenance(
                runtime.kv,
                forced=cfg.maintenance,
                retry_after=cfg.maintenance_retry_after,
                refresh=cfg.maintenance_refresh,
            ),
        )
        runtime.state[OBS_STATE_KEY] = state
    return state


class ObsPlugin(BasePlugin):
    """The plugin of svc-obs, registered as ``obs`` in ``svc_infra.plugins``.

    Args:
        settings: Settings to use instead of ``SVC_OBS__…`` from the environment.
        tracer_provider: OpenTelemetry tracer provider for tracing (default: global).
    """

    name = "obs"

    def __init__(self, settings: ObsSettings | None = None, *, tracer_provider: Any = None) -> None:
        self._settings = settings
        self.tracer_provider = tracer_provider
        self._previous_sigterm: Any = None
        self._sigterm_handler: Any = None
        self._metrics_server: Any = None
        self._log_handler: logging.Handler | None = None
        self._log_level = logging.NOTSET

    def middleware(self, runtime: Runtime) -> Sequence[MiddlewareSpec]:
        """Tracing (optional), metrics, the metrics endpoint and maintenance mode."""
        obs = obs_state(runtime, self._settings)
        cfg = obs.settings
        specs: list[MiddlewareSpec] = []
        if cfg.tracing:
            from svc_obs.tracing import TRACING_ORDER, TracingMiddleware

            specs.append(
                MiddlewareSpec(
                    "obs_tracing",
                    TRACING_ORDER,
                    TracingMiddleware,
                    {"tracer_provider": self.tracer_provider, "resolve": obs.resolve},
                )
            )
        if cfg.metrics:
            specs.append(
                MiddlewareSpec(
                    "obs_metrics", METRICS_ORDER, MetricsMiddleware, {"resolve": obs.resolve}
                )
            )
            if cfg.routes and cfg.metrics_port is None:
                token = cfg.metrics_token.get_secret_value() if cfg.metrics_token else None
                specs.append(
                    MiddlewareSpec(
                        "obs_metrics_endpoint",
                        METRICS_ENDPOINT_ORDER,
                        MetricsEndpointMiddleware,
                        {"path": cfg.metrics_path, "token": token},
                    )
                )
        specs.append(
            MiddlewareSpec(
                "obs_maintenance",
                MAINTENANCE_ORDER,
                MaintenanceMiddleware,
                {"maintenance": obs.maintenance, "exempt": ("/_ops/", cfg.metrics_path)},
            )
        )
        return specs

    def setup(self, app: FastAPI, runtime: Runtime) -> None:
        """Health checks, the ops routes and the lifecycle wrapper around the lifespan."""
        obs = obs_state(runtime, self._settings)
        timeout = obs.settings.probe_timeout

        async def database() -> bool:
            return await runtime.database.ping(timeout)

        register_health_check(runtime, "database", database)
        if runtime.kv.backend == "redis":
            register_health_check(runtime, "redis", runtime.kv.ping)
        if obs.settings.routes:
            app.include_router(ops_router(runtime, obs))
        if obs.settings.demo_routes and not runtime.settings.is_prod:
            from svc_obs.demo import demo_router

            app.include_router(demo_router(obs.settings))
        obs.routes = app.router.routes  # the live list: routes added later count too

        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(application: Any) -> AsyncIterator[Any]:
            async with inner(application) as state:
                obs.lifecycle.started = True
                try:
                    yield state
                finally:
                    obs.lifecycle.draining = True

        app.router.lifespan_context = lifespan

    async def startup(self, runtime: Runtime) -> None:
        """Logging, pool gauges, breakers' store, SIGTERM drain, metrics port, tracing."""
        obs = obs_state(runtime, self._settings)
        cfg = obs.settings
        if cfg.configure_logging:
            from svc_obs.logs import configure_logging

            fmt = cfg.log_format or ("json" if runtime.settings.is_prod else "console")
            self._log_level = logging.getLogger().level
            self._log_handler = configure_logging(
                fmt=fmt, level=cfg.log_level.upper(), quiet_paths=tuple(cfg.quiet_paths)
            )
        obs.lifecycle.draining = False
        metrics.instrument_pool(runtime.database.engine)
        breaker.set_default_kv(runtime.kv)
        drain = cfg.drain_seconds
        if drain is None:
            drain = 5.0 if runtime.settings.is_prod else 0.0
        self._install_sigterm(obs, drain)
        if cfg.metrics and cfg.metrics_port is not None:
            self._start_metrics_server(cfg.metrics_host, cfg.metrics_port)
        if cfg.tracing:
            from svc_obs.tracing import instrument

            instrument(runtime, tracer_provider=self.tracer_provider)

    async def shutdown(self, runtime: Runtime) -> None:
        """Undo :meth:`startup`; readiness reports ``draining`` from here on."""
        obs = obs_state(runtime, self._settings)
        obs.lifecycle.draining = True
        self._restore_sigterm()
        breaker.set_default_kv(None)
        metrics.release_pool(runtime.database.engine)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None
        if obs.settings.tracing:
            from svc_obs.tracing import uninstrument

            uninstrument()
        if self._log_handler is not None:
            from svc_obs.logs import remove_logging

            remove_logging(self._log_handler, self._log_level)
            self._log_handler = None
        if metrics.multiprocess_dir():
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    def cli(self) -> Any:
        """``svc-infra obs …``."""
        from svc_obs.cli import obs_app

        return obs_app

    def _install_sigterm(self, obs: ObsState, drain: float) -> None:
        """Turn readiness to 503 on SIGTERM, then pass the signal on after ``drain`` s."""
        loop = asyncio.get_running_loop()
        try:
            previous = signal.getsignal(signal.SIGTERM)
        except ValueError:  # pragma: no cover - not the main thread
            return

        def forward(signum: int, frame: FrameType | None) -> None:
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            if obs.lifecycle.draining or drain <= 0:
                obs.lifecycle.draining = True
                forward(signum, frame)
                return
            obs.lifecycle.draining = True
            logger.warning("SIGTERM: readiness is 503; shutting down in %.1f s", drain)
            loop.call_soon_threadsafe(loop.call_later, drain, forward, signum, None)

        try:
            signal.signal(signal.SIGTERM, on_sigterm)
        except ValueError:  # not the main thread (e.g. a test client's portal)
            return
        self._previous_sigterm = previous
        self._sigterm_handler = on_sigterm

    def _restore_sigterm(self) -> None:
        if self._sigterm_handler is None:
            return
        with contextlib.suppress(ValueError):
            if signal.getsignal(signal.SIGTERM) is self._sigterm_handler:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
        self._sigterm_handler = None

    def _start_metrics_server(self, host: str, port: int) -> None:
        from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

        registry = REGISTRY
        if metrics.multiprocess_dir():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        try:
            self._metrics_server, _ = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            # Another worker of this service already serves the port (multiprocess mode).
            logger.info("metrics port %d not bound by this process: %s", port, exc)
