"""svc-obs: metrics, structured logs, probes, maintenance mode, circuit breaker and SLOs.

Install with ``pip install svc-obs`` (tracing: ``pip install "svc-obs[otel]"``) or
``pip install "svc-infra[obs]"``. ``svc_infra.create_app()`` discovers
:class:`ObsPlugin` through the ``svc_infra.plugins`` entry point, which adds:

* ``/metrics`` (Prometheus; ``SVC_OBS__METRICS_TOKEN`` protects it) with
  ``http_server_requests_total`` and ``http_server_request_duration_seconds`` labelled
  by route template, plus ``db_pool_*`` gauges;
* ``/_ops/live``, ``/_ops/ready`` (health checks from ``runtime.state["svc.health_checks"]``)
  and ``/_ops/startup``; readiness turns 503 on SIGTERM;
* maintenance mode (``SVC_OBS__MAINTENANCE`` or ``PUT /_ops/maintenance``);
* JSON (prod) or console logs with request id, tenant and principal, secrets redacted.

A shared circuit breaker and SLO rules::

    from svc_obs import SLO, CircuitBreaker

    payments = CircuitBreaker("payments", failure_threshold=5, reset_timeout=30)

    @payments
    async def charge(order_id: str) -> None: ...

    SLOS = [SLO("checkout", 0.999, routes="/checkout.*")]
    # svc-infra obs rules --slos myapp.slos:SLOS > rules.yml
"""

from importlib.metadata import version as _version

from svc_obs.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, set_default_kv
from svc_obs.errors import CircuitOpenError, MaintenanceError, SvcObsError
from svc_obs.health import HEALTH_CHECKS_KEY, HealthCheck, register_health_check
from svc_obs.logs import configure_logging, redact
from svc_obs.maintenance import Maintenance, MaintenanceState
from svc_obs.metrics import UNMATCHED_ROUTE, exposition, instrument_pool
from svc_obs.middleware import MaintenanceMiddleware, MetricsEndpointMiddleware, MetricsMiddleware
from svc_obs.plugin import ObsPlugin
from svc_obs.settings import ObsSettings
from svc_obs.slo import SLO, alert_rules, dashboard

__version__ = _version("svc-obs")
__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "HEALTH_CHECKS_KEY",
    "OPEN",
    "SLO",
    "UNMATCHED_ROUTE",
    "CircuitBreaker",
    "CircuitOpenError",
    "HealthCheck",
    "Maintenance",
    "MaintenanceError",
    "MaintenanceMiddleware",
    "MaintenanceState",
    "MetricsEndpointMiddleware",
    "MetricsMiddleware",
    "ObsPlugin",
    "ObsSettings",
    "SvcObsError",
    "__version__",
    "alert_rules",
    "configure_logging",
    "dashboard",
    "exposition",
    "instrument_pool",
    "redact",
    "register_health_check",
    "set_default_kv",
]
