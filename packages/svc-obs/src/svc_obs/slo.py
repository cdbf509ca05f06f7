"""Service level objectives declared in code, and what Prometheus and Grafana need for them.

An :class:`SLO` names a *route class* (a regular expression over route templates), a
kind (availability: the share of requests not answered with a 5xx; latency: the share
answered within ``threshold`` seconds) and an objective (``0.999``). From a list of
them:

* :func:`alert_rules` builds Prometheus recording rules (the error ratio over 5m,
  30m, 1h, 6h and 3d) and the multi-window, multi-burn-rate alerts of the SRE
  workbook: page at 14.4x over 1h and 5m and at 6x over 6h and 30m, ticket at 1x over
  3d and 6h (``svc-infra obs rules``);
* :func:`dashboard` builds a Grafana dashboard: traffic, errors, latency quantiles,
  and per SLO the error ratio and burn rates (``svc-infra obs dashboard``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal

from prometheus_client.utils import floatToGoString

from svc_core.errors import ConfigurationError
from svc_obs.metrics import HTTP_BUCKETS

__all__ = ["BURN_RATE_ALERTS", "DEFAULT_SLOS", "SLO", "alert_rules", "dashboard"]

#: ``(burn rate, long window, short window, severity)`` per alert, from the SRE workbook.
BURN_RATE_ALERTS: Final = (
    (14.4, "1h", "5m", "page"),
    (6.0, "6h", "30m", "page"),
    (1.0, "3d", "6h", "ticket"),
)
_WINDOWS: Final = ("5m", "30m", "1h", "6h", "3d")
_OPS_ROUTES: Final = "/_ops/.*|/metrics|<unmatched>"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class SLO:
    """One objective for one route class.

    Attributes:
        name: Lower-case identifier (``[a-z][a-z0-9_]*``), used in rule and alert names.
        objective: Target share of good requests, e.g. ``0.999``.
        kind: ``"availability"`` (good = not 5xx) or ``"latency"`` (good = faster
            than ``threshold``).
        routes: Regular expression matched by Prometheus against the ``route`` label
            (fully anchored). Ops routes and unmatched requests are always excluded.
        methods: Regular expression over the ``method`` label.
        threshold: Latency bound in seconds; must be a bucket bound of
            ``http_server_request_duration_seconds``.
        description: Shown in alert annotations.
    """

    name: str
    objective: float
    kind: Literal["availability", "latency"] = "availability"
    routes: str = ".*"
    methods: str = ".*"
    threshold: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            msg = f"SLO name {self.name!r} must match [a-z][a-z0-9_]*"
            raise ConfigurationError(msg)
        if not 0 < self.objective < 1:
            msg = f"SLO {self.name}: objective must be between 0 and 1 (exclusive)"
            raise ConfigurationError(msg)
        if self.kind == "latency" and self.threshold not in HTTP_BUCKETS:
            msg = f"SLO {self.name}: latency threshold must be one of {HTTP_BUCKETS}"
            raise ConfigurationError(msg)
        for pattern in (self.routes, self.methods):
            try:
                re.compile(pattern)
            except re.error as exc:
                msg = f"SLO {self.name}: invalid regular expression {pattern!r}"
                raise ConfigurationError(msg) from exc

    @property
    def error_budget(self) -> float:
        """``1 - objective``."""
        return 1 - self.objective

    def selector(self, extra: str = "") -> str:
        """The PromQL label selector of the SLO's requests."""
        route = self.routes.replace("\\", "\\\\").replace('"', '\\"')
        method = self.methods.replace("\\", "\\\\").replace('"', '\\"')
        parts = [f'route=~"{route}"', f'route!~"{_OPS_ROUTES}"', f'method=~"{method}"']
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}"

    def error_ratio(self, window: str) -> str:
        """PromQL for the share of bad requests over ``window``."""
        if self.kind == "availability":
            bad = self.selector('status_code=~"5.."')
            return (
                f"sum(rate(http_server_requests_total{bad}[{window}])) / "
                f"sum(rate(http_server_requests_total{self.selector()}[{window}]))"
            )
        good = self.selector(f'le="{floatToGoString(self.threshold)}"')  # type: ignore[no-untyped-call]
        return (
            f"1 - (sum(rate(http_server_request_duration_seconds_bucket{good}[{window}])) / "
            f"sum(rate(http_server_request_duration_seconds_count{self.selector()}[{window}])))"
        )

    def record_name(self, window: str) -> str:
        """Name of the recording rule holding the error ratio over ``window``."""
        return f"slo:{self.name}:error_ratio_rate{window}"


#: What ``svc-infra obs rules`` uses when no SLOs are given.
DEFAULT_SLOS: Final = (
    SLO("api_availability", 0.999, description="99.9% of API requests are not 5xx."),
    SLO(
        "api_latency",
        0.99,
        kind="latency",
        threshold=0.5,
        description="99% of API requests are answered within 500 ms.",
    ),
)


def alert_rules(slos: tuple[SLO, ...] | list[SLO], *, service: str = "svc") -> dict[str, Any]:
    """Prometheus rule groups (the content of a rules file) for ``slos``."""
    groups: list[dict[str, Any]] = []
    for slo in slos:
        recording = [
            {
                "record": slo.record_name(window),
                "expr": slo.error_ratio(window),
                "labels": {"service": service, "slo": slo.name},
            }
            for window in _WINDOWS
        ]
        alerts = []
        for factor, long_w, short_w, severity in BURN_RATE_ALERTS:
            threshold = f"({factor:g} * {slo.error_budget:.6g})"
            expr = (
                f"{slo.record_name(long_w)} > {threshold} and "
                f"{slo.record_name(short_w)} > {threshold}"
            )
            alerts.append(
                {
                    "alert": f"SLOBurnRate_{slo.name}_{long_w}",
                    "expr": expr,
                    "for": "2m" if severity == "page" else "15m",
                    "labels": {
                        "severity": severity,
                        "service": service,
                        "slo": slo.name,
                        "burn_rate": f"{factor:g}",
                    },
                    "annotations": {
                        "summary": (
                            f"{service}: SLO {slo.name} burns its error budget {factor:g}x "
                            f"too fast ({long_w} and {short_w} windows)"
                        ),
                        "description": slo.description
                        or f"{slo.kind} objective {slo.objective:.4%}",
                    },
                }
            )
        groups.append({"name": f"slo-{slo.name}", "rules": recording + alerts})
    return {"groups": groups}


def _panel(
    pid: int, title: str, exprs: list[tuple[str, str]], y: int, x: int, unit: str
) -> dict[str, Any]:
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


def dashboard(slos: tuple[SLO, ...] | list[SLO], *, service: str = "svc") -> dict[str, Any]:
    """A Grafana dashboard (JSON model) for the HTTP metrics and ``slos``."""
    ops = f'route!~"{_OPS_ROUTES}"'
    panels = [
        _panel(
            1,
            "Requests per second by route",
            [(f"sum by (route) (rate(http_server_requests_total{{{ops}}}[5m]))", "{{route}}")],
            0,
            0,
            "reqps",
        ),
        _panel(
            2,
            "5xx ratio",
            [
                (
                    (
                        f'sum(rate(http_server_requests_total{{{ops},status_code=~"5.."}}[5m])) / '
                        f"sum(rate(http_server_requests_total{{{ops}}}[5m]))"
                    ),
                    "5xx",
                )
            ],
            0,
            12,
            "percentunit",
        ),
        _panel(
            3,
            "Latency p50 / p99",
            [
                (
                    (
                        f"histogram_quantile({q}, sum by (le) "
                        f"(rate(http_server_request_duration_seconds_bucket{{{ops}}}[5m])))"
                    ),
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.99)
            ],
            8,
            0,
            "s",
        ),
        _panel(
            4,
            "In flight, database pool",
            [
                ("sum(http_server_requests_in_flight)", "in flight"),
                ("sum(db_pool_connections_in_use)", "pool in use"),
                ("sum(db_pool_connections_open)", "pool open"),
            ],
            8,
            12,
            "short",
        ),
    ]
    y = 16
    for i, slo in enumerate(slos):
        burn = [
            (f"{slo.record_name(w)} / {slo.error_budget:.6g}", f"burn rate {w}") for w in _WINDOWS
        ]
        panels.append(_panel(10 + 2 * i, f"SLO {slo.name}: burn rate", burn, y, 0, "short"))
        panels.append(
            _panel(
                11 + 2 * i,
                f"SLO {slo.name}: error ratio vs budget ({slo.objective:.4%})",
                [
                    (slo.error_ratio("5m"), "error ratio 5m"),
                    (f"vector({slo.error_budget:.6g})", "budget"),
                ],
                y,
                12,
                "percentunit",
            )
        )
        y += 8
    return {
        "title": f"{service} — HTTP and SLOs",
        "uid": re.sub(r"[^a-zA-Z0-9-]", "-", f"svc-obs-{service}")[:40],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "tags": ["svc-obs", "slo"],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": panels,
    }
