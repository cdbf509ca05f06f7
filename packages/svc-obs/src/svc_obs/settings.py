"""svc-obs settings, read from ``SVC_OBS__…`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from svc_core.settings import CommaList, section_config

__all__ = ["ObsSettings"]


class ObsSettings(BaseSettings):
    """Settings of svc-obs (prefix ``SVC_OBS__``); every field is listed in the docs."""

    model_config = section_config("obs")

    metrics: bool = Field(default=True, description="Record HTTP metrics and serve them.")
    metrics_path: str = Field(default="/metrics", description="Path of the Prometheus endpoint.")
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, /metrics requires `Authorization: Bearer <token>`.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Serve metrics on this separate port (and not on the app) when set.",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address of the separate metrics port (0.0.0.0 in a container).",
    )
    maintenance: bool = Field(
        default=False, description="Start in maintenance mode (503 except ops routes)."
    )
    maintenance_retry_after: int = Field(
        default=300, gt=0, description="Retry-After seconds sent during maintenance."
    )
    maintenance_refresh: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between two reads of the shared maintenance flag per replica.",
    )
    ops_token: SecretStr | None = Field(
        default=None,
        description="Token (header `X-Ops-Token`) that may toggle maintenance mode.",
    )
    admin_role: str = Field(default="admin", description="Role allowed to toggle maintenance.")
    probe_timeout: float = Field(
        default=2.0, gt=0, description="Seconds each readiness check may take."
    )
    drain_seconds: float | None = Field(
        default=None,
        ge=0,
        description=(
            "Seconds between SIGTERM (readiness turns 503) and the server's shutdown. "
            "Default: 5 with SVC_ENV=prod, else 0."
        ),
    )
    log_format: Literal["json", "console"] | None = Field(
        default=None, description="Log line format; default json with SVC_ENV=prod, else console."
    )
    log_level: str = Field(default="INFO", description="Root log level.")
    configure_logging: bool = Field(
        default=True, description="Install svc-obs' log handler at start-up."
    )
    quiet_paths: CommaList = Field(
        default_factory=lambda: ["/_ops/", "/metrics"],
        description="Path prefixes whose successful requests are not access-logged.",
    )
    tracing: bool = Field(
        default=False, description="Enable OpenTelemetry tracing (needs svc-obs[otel])."
    )
    routes: bool = Field(default=True, description="Mount /_ops/* and the metrics endpoint.")
    demo_routes: bool = Field(
        default=False,
        description="Mount /_dev/obs/breaker (a breaker-guarded fake upstream); never in prod.",
    )
    demo_breaker_reset: float = Field(
        default=2.0, gt=0, description="reset_timeout of the demo route's breaker."
    )

    @field_validator("quiet_paths", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
