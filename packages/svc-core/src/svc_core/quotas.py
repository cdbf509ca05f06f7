"""Per-tenant quotas, looked up by name, without the packages importing each other.

svc-tenancy knows each tenant's plan and overrides; svc-ratelimit enforces limits. The
meeting point is a :class:`QuotaProvider` kept in the runtime under
:data:`QUOTA_PROVIDER_KEY`::

    provider = runtime.state.get(QUOTA_PROVIDER_KEY)
    limit = await provider.quota(tenant_id, "api") if provider else None

A quota is a limit string in svc-ratelimit's syntax (``"100/minute;2000/hour"``), or
``None`` when the tenant has no specific quota for that name (the default policy applies).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["QUOTA_PROVIDER_KEY", "QuotaProvider"]

#: Key of the provider in :attr:`svc_core.plugin.Runtime.state`.
QUOTA_PROVIDER_KEY = "svc.quota_provider"


@runtime_checkable
class QuotaProvider(Protocol):
    """Answers "what limit applies to this tenant for this quota name?"."""

    async def quota(self, tenant_id: str, name: str) -> str | None:
        """The tenant's limit for ``name`` (e.g. ``"api"``), or ``None`` for the default."""
        ...
