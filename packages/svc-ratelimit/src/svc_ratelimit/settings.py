"""svc-ratelimit's settings: ``SVC_RATELIMIT__…`` (see the docs page for the table)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from svc_core.settings import CommaList, section_config
from svc_ratelimit.algorithms import Algorithm
from svc_ratelimit.limits import parse_limits
from svc_ratelimit.policy import StoreErrorMode

__all__ = ["DEFAULT_AUTH_PATHS", "PROD_AUTH_LIMITS", "RatelimitSettings"]

#: The auth routes of svc-auth; a trailing ``*`` matches any rest of the path.
DEFAULT_AUTH_PATHS = [
    "/auth/login",
    "/auth/register",
    "/auth/verify",
    "/auth/password/forgot",
    "/auth/password/reset",
    "/auth/mfa/*",
]
#: The auth policy used when ``SVC_RATELIMIT__AUTH`` is unset and ``SVC_ENV=prod``.
PROD_AUTH_LIMITS = "20/minute;200/hour"


def _json_map(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        return json.loads(text) if text else {}
    return value


class RatelimitSettings(BaseSettings):
    """``SVC_RATELIMIT__*``.

    Attributes:
        default: Default policy of every non-ops route, e.g. ``"100/minute;2000/hour"``;
            ``off`` (the default) disables it.
        auth: Policy of the auth routes, keyed by client address, failing closed when
            the store is down; ``off`` disables it. Unset: ``20/minute;200/hour`` when
            ``SVC_ENV=prod``, else off.
        auth_paths: The auth routes (comma list; a trailing ``*`` is a prefix match).
        on_store_error: ``local`` (default), ``open`` or ``closed`` for non-auth routes.
        algorithm: ``sliding_window`` (default), ``fixed_window`` or ``gcra``.
        routes: Per-route policies (JSON object): ``{"POST /search": "5/minute"}``; a
            key without a method matches every method; a trailing ``*`` is a prefix match.
            A route policy replaces the default on that route.
        plans: Limits per plan (JSON object ``{"free": "60/minute"}``), chosen by the
            principal's ``plan`` claim (``plan_claim``).
        plan_claim: The principal claim naming the plan.
        quota_name: The quota asked of the tenant quota provider for the default policy.
        quota_cache_seconds: How long a tenant's quota answer is reused in-process.
        exempt_paths: Extra paths never limited by the default policy (``/_ops/*`` and
            ``/metrics`` always are).
        retry_store_seconds: After a store failure, seconds before it is tried again.
        abuse_threshold: Refusals of one partition within ``abuse_window`` seconds that
            fire the abuse hook (and ``ratelimit_abuse_total``).
        abuse_window: See ``abuse_threshold``.
    """

    model_config = section_config("ratelimit")

    default: str = "off"
    auth: str | None = None
    auth_paths: CommaList = Field(default_factory=lambda: list(DEFAULT_AUTH_PATHS))
    on_store_error: StoreErrorMode = "local"
    algorithm: Algorithm = "sliding_window"
    routes: dict[str, str] = Field(default_factory=dict)
    plans: dict[str, str] = Field(default_factory=dict)
    plan_claim: str = "plan"
    quota_name: str = "api"
    quota_cache_seconds: float = Field(default=5.0, ge=0)
    exempt_paths: CommaList = Field(default_factory=list)
    retry_store_seconds: float = Field(default=1.0, gt=0)
    abuse_threshold: int = Field(default=20, ge=1)
    abuse_window: float = Field(default=60.0, gt=0)

    _maps = field_validator("routes", "plans", mode="before")(_json_map)

    @field_validator("default", "auth")
    @classmethod
    def _limits_parse(cls, value: str | None) -> str | None:
        if value is not None:
            parse_limits(value)  # fail at start-up, not on the first request
        return value

    @field_validator("routes", "plans")
    @classmethod
    def _map_values_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            parse_limits(text)
        return value

    def auth_limits(self, *, prod: bool) -> str:
        """The effective auth policy text (``PROD_AUTH_LIMITS`` when unset in prod)."""
        if self.auth is None:
            return PROD_AUTH_LIMITS if prod else "off"
        return self.auth
