"""Settings of svc-tenancy (environment prefix ``SVC_TENANCY__``)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from svc_core.settings import CommaList, section_config

__all__ = ["TenancySettings"]

STRATEGIES = ("claim", "api_key", "subdomain", "gateway")


class TenancySettings(BaseSettings):
    """How tenants are resolved, scoped and limited.

    Attributes:
        strategies: Resolution strategies tried, in order (``claim``, ``api_key``,
            ``subdomain``, ``gateway``). ``subdomain`` and ``gateway`` do nothing until
            :attr:`subdomain_base` / :attr:`gateway_header` are set.
        auto_provision: Create an ``active`` tenant row (on :attr:`default_plan`) the
            first time a verified credential names an unknown tenant id.
        default_plan: Plan of new tenants.
        plans: Plan name → quota name → limit string, e.g.
            ``{"free": {"api": "100/minute"}, "pro": {"api": "5000/minute"}}``.
        subdomain_base: Domain under which ``<slug>.<base>`` names a tenant.
        gateway_header: Header a trusted gateway sets to the tenant id (off when empty);
            honoured only from ``SVC_HTTP__TRUSTED_PROXIES``.
        cache_ttl: Seconds a tenant's status and plan are cached per process (0 = none).
        scope_shared_database: Make the runtime database's sessions tenant-scoped.
        rls: On Postgres, ``set_config('svc.tenant_id', …, true)`` in every transaction
            so row-level security policies see the tenant.
    """

    model_config = section_config("tenancy")

    strategies: CommaList = Field(default_factory=lambda: list(STRATEGIES))
    auto_provision: bool = True
    default_plan: str = "free"
    plans: dict[str, dict[str, str]] = Field(default_factory=dict)
    subdomain_base: str | None = None
    gateway_header: str | None = None
    cache_ttl: float = Field(default=5.0, ge=0)
    scope_shared_database: bool = True
    rls: bool = False

    @field_validator("strategies", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [p.strip() for p in text.split(",") if p.strip()]
        return value

    @field_validator("strategies")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in STRATEGIES]
        if unknown:
            msg = f"unknown tenancy strategies {unknown}; choose from {list(STRATEGIES)}"
            raise ValueError(msg)
        return value

    @field_validator("subdomain_base", "gateway_header", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value
