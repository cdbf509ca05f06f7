"""Which limits apply to a request: per-tenant quotas, per-plan limits, else the policy's.

The tenant's quota comes from the :class:`~svc_core.quotas.QuotaProvider` that
svc-tenancy (or the application) keeps in ``runtime.state[QUOTA_PROVIDER_KEY]``; the plan
from a claim of the principal. Answers are cached in-process for a few seconds so that the
provider (often a database) is not asked on every request.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from svc_ratelimit.limits import Limit, parse_limits

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from svc_core.context import Principal
    from svc_core.quotas import QuotaProvider
    from svc_ratelimit.policy import Policy

__all__ = ["PolicyResolver"]

logger = logging.getLogger("svc_ratelimit")

_MAX_CACHED = 10_000


class PolicyResolver:
    """Picks the limits of a request from its tenant, its principal's plan, or the policy.

    Order: the tenant's quota for the policy's quota name (``Policy.quota``) when a
    provider is configured and answers; else the limits of the principal's plan; else the
    policy as declared. A quota or plan of ``"off"`` means *unlimited*.

    Args:
        quota_provider: A :class:`~svc_core.quotas.QuotaProvider`, or a callable
            returning one (or ``None``) — looked up per request, so a provider registered
            after start-up is found.
        plans: Limit strings by plan name.
        plan_claim: The principal claim naming the plan.
        cache_seconds: How long a tenant's quota answer is reused (0 = always ask).
        clock: Monotonic clock of the cache.
    """

    def __init__(
        self,
        *,
        quota_provider: QuotaProvider | Callable[[], QuotaProvider | None] | None = None,
        plans: Mapping[str, str] | None = None,
        plan_claim: str = "plan",
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._provider = quota_provider
        self._plans = {name: parse_limits(text) for name, text in (plans or {}).items()}
        self._plan_claim = plan_claim
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._quotas: dict[tuple[str, str], tuple[float, tuple[Limit, ...] | None]] = {}
        self._policies: dict[tuple[Policy, tuple[Limit, ...]], Policy] = {}

    def _get_provider(self) -> QuotaProvider | None:
        provider = self._provider
        # Not isinstance(…, QuotaProvider): a runtime-checkable Protocol check is slow,
        # and this runs per request.
        if provider is None or hasattr(provider, "quota"):
            return provider
        return provider()

    async def _tenant_limits(self, tenant: str, quota: str) -> tuple[Limit, ...] | None:
        now = self._clock()
        cached = self._quotas.get((tenant, quota))
        if cached is not None and cached[0] > now:
            return cached[1]
        provider = self._get_provider()
        if provider is None:
            return None
        try:
            text = await provider.quota(tenant, quota)
            limits = None if text is None else parse_limits(text)
        except Exception:
            # A broken provider must not take the API down: the declared policy applies.
            logger.exception("the quota provider failed; applying the declared policy")
            return None
        if len(self._quotas) >= _MAX_CACHED:
            self._quotas.clear()
        self._quotas[(tenant, quota)] = (now + self._cache_seconds, limits)
        return limits

    def _with(self, policy: Policy, limits: tuple[Limit, ...]) -> Policy:
        if limits == policy.limits:
            return policy
        found = self._policies.get((policy, limits))
        if found is None:
            if len(self._policies) >= _MAX_CACHED:
                self._policies.clear()
            found = self._policies[(policy, limits)] = policy.with_limits(limits)
        return found

    async def resolve(
        self, policy: Policy, *, tenant: str | None, principal: Principal | None
    ) -> Policy | None:
        """The policy to apply, or ``None`` when the tenant or plan is unlimited."""
        if tenant and policy.quota:
            limits = await self._tenant_limits(tenant, policy.quota)
            if limits is not None:
                return self._with(policy, limits) if limits else None
        if principal is not None and self._plans:
            plan = principal.claims.get(self._plan_claim)
            if isinstance(plan, str) and plan in self._plans:
                limits = self._plans[plan]
                return self._with(policy, limits) if limits else None
        return policy
