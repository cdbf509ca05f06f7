"""How svc-tenancy joins ``svc_infra.create_app()`` and the ``svc-infra`` CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from svc_core.plugin import BasePlugin, MiddlewareSpec, Runtime
from svc_core.quotas import QUOTA_PROVIDER_KEY
from svc_core.sql import MigrationSource
from svc_tenancy.crud import SESSIONMAKER_KEY
from svc_tenancy.middleware import TENANCY_ORDER, TenancyMiddleware
from svc_tenancy.quotas import PlanQuotaProvider
from svc_tenancy.resolution import TenantResolver
from svc_tenancy.scoping import scope_database, tenant_sessionmaker
from svc_tenancy.settings import TenancySettings
from svc_tenancy.store import TenantStore

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastapi import FastAPI

__all__ = ["STORE_KEY", "TenancyPlugin"]

#: ``runtime.state`` key of the :class:`~svc_tenancy.store.TenantStore`.
STORE_KEY = "tenancy.store"


class TenancyPlugin(BasePlugin):
    """The plugin of svc-tenancy, registered as ``tenancy`` in ``svc_infra.plugins``.

    * middleware ``tenancy`` at order 750: resolves and validates the tenant;
    * ``runtime.state``: the :class:`~svc_tenancy.store.TenantStore` (``tenancy.store``),
      a tenant-scoped session factory (``tenancy.sessionmaker``) and, under
      :data:`svc_core.quotas.QUOTA_PROVIDER_KEY`, the
      :class:`~svc_tenancy.quotas.PlanQuotaProvider`;
    * with ``SVC_TENANCY__SCOPE_SHARED_DATABASE`` (default on), the runtime database's
      own sessions are tenant-scoped too;
    * migrations: branch ``tenancy`` (the ``svc_tenants`` table); CLI: ``svc-infra tenants``.

    Args:
        settings: Settings to use instead of reading ``SVC_TENANCY__…``.
    """

    name = "tenancy"

    def __init__(self, settings: TenancySettings | None = None) -> None:
        self._settings = settings

    @property
    def settings(self) -> TenancySettings:
        """The package settings (read from the environment on first use)."""
        if self._settings is None:
            self._settings = TenancySettings()
        return self._settings

    def _prepare(self, runtime: Runtime) -> TenantStore:
        store: TenantStore | None = runtime.state.get(STORE_KEY)
        if store is None:
            settings = self.settings
            store = TenantStore(
                runtime.database,
                default_plan=settings.default_plan,
                cache_ttl=settings.cache_ttl,
            )
            runtime.state[STORE_KEY] = store
            runtime.state[SESSIONMAKER_KEY] = tenant_sessionmaker(
                runtime.database, rls=settings.rls
            )
            # An application's own provider, registered first, wins.
            runtime.state.setdefault(QUOTA_PROVIDER_KEY, PlanQuotaProvider(store, settings.plans))
            if settings.scope_shared_database:
                scope_database(runtime.database, rls=settings.rls)
        return store

    def middleware(self, runtime: Runtime) -> Sequence[MiddlewareSpec]:
        """The tenancy layer (order 750)."""
        store = self._prepare(runtime)
        resolver = TenantResolver(
            store,
            self.settings,
            trusted_proxies=runtime.settings.http.trusted_proxies,
        )
        return [
            MiddlewareSpec(
                name="tenancy",
                order=TENANCY_ORDER,
                factory=TenancyMiddleware,
                options={"resolver": resolver},
            )
        ]

    def setup(self, app: FastAPI, runtime: Runtime) -> None:
        """Build the store, session factory and quota provider."""
        self._prepare(runtime)

    async def startup(self, runtime: Runtime) -> None:
        """Register the quota provider (again, in case another plugin replaced the state)."""
        store = self._prepare(runtime)
        runtime.state.setdefault(QUOTA_PROVIDER_KEY, PlanQuotaProvider(store, self.settings.plans))

    def cli(self) -> Any:
        """``svc-infra tenants …``."""
        from svc_tenancy.cli import tenants_app

        return tenants_app

    def migrations(self) -> MigrationSource:
        """The ``tenancy`` branch: the tenants table."""
        return MigrationSource.for_package("tenancy", "svc_tenancy", models=("svc_tenancy.models",))
