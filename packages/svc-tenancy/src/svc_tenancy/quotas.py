"""Per-tenant quotas for svc-ratelimit, through svc-core's :class:`~svc_core.quotas.QuotaProvider`.

A tenant's quota for a name (``"api"``) is, in order: its own override
(``quota_overrides`` on the tenant row, ``svc-infra tenants set-quota``), else its plan's
entry in ``SVC_TENANCY__PLANS``, else ``None`` (the default policy applies)::

    SVC_TENANCY__PLANS='{"free": {"api": "100/minute"}, "pro": {"api": "5000/minute"}}'

The plugin registers a :class:`PlanQuotaProvider` under
``runtime.state[svc_core.quotas.QUOTA_PROVIDER_KEY]`` at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from svc_tenancy.store import TenantStore

__all__ = ["PlanQuotaProvider"]


class PlanQuotaProvider:
    """Plan → limits from settings, plus per-tenant overrides from the tenant row.

    Args:
        store: Where tenants are read (with its short cache).
        plans: Plan name → quota name → limit string.
    """

    def __init__(self, store: TenantStore, plans: Mapping[str, Mapping[str, str]]) -> None:
        self.store = store
        self.plans = {plan: dict(limits) for plan, limits in plans.items()}

    async def quota(self, tenant_id: str, name: str) -> str | None:
        """The limit for ``name`` of ``tenant_id``, or ``None`` for the default policy."""
        tenant = await self.store.get(tenant_id)
        if tenant is None:
            return None
        override = tenant.quota_overrides.get(name)
        if override:
            return override
        return self.plans.get(tenant.plan, {}).get(name)

    async def plan(self, tenant_id: str) -> str | None:
        """The plan of ``tenant_id`` (for entitlements), or ``None`` if unknown."""
        tenant = await self.store.get(tenant_id)
        return tenant.plan if tenant is not None else None
