"""svc-tenancy: the tenant from the credential, automatic tenant scoping (with Postgres
row-level security as a second wall), a tenant-scoped CRUD router, per-tenant quotas.

Install with ``pip install svc-tenancy`` or ``pip install "svc-infra[tenancy]"``;
``svc_infra.create_app()`` wires :class:`TenancyPlugin` in (middleware at order 750,
after auth). Models opt in with :class:`svc_core.sql.TenantMixin`::

    from fastapi import FastAPI
    from svc_core.sql import Base, TenantMixin, SoftDeleteMixin, VersionMixin, UUIDPK
    from svc_tenancy import tenant_crud_router

    class Note(TenantMixin, SoftDeleteMixin, VersionMixin, Base):
        __tablename__ = "notes"
        id: Mapped[UUIDPK]
        text: Mapped[str]

    app.include_router(tenant_crud_router(
        Note, create_schema=NoteIn, update_schema=NotePatch, read_schema=NoteOut,
        prefix="/notes"))

Queries through a tenant-scoped session (:func:`tenant_sessionmaker`, or the runtime
database once the plugin ran) see only the current tenant's rows and fail closed with
no tenant; :func:`system_context` is the audited escape. Background work carries the
tenant with :func:`tenant_labels` / :func:`tenant_from_labels` / :func:`bind_tenant`.
Every error is a :class:`SvcTenancyError`, rendered as problem+json.
"""

from importlib.metadata import version as _version

from svc_tenancy.crud import (
    PROTECTED_FIELDS,
    SESSIONMAKER_KEY,
    Page,
    tenant_crud_router,
    version_etag,
)
from svc_tenancy.dependencies import current_tenant, require_roles
from svc_tenancy.errors import (
    CrossTenantWriteError,
    InvalidCursorError,
    StaleVersionError,
    SvcTenancyError,
    TenantContextMissingError,
    TenantMismatchError,
    TenantSuspendedError,
    TenantUnknownError,
)
from svc_tenancy.export import export_tenant, tenant_owned_tables
from svc_tenancy.middleware import TENANCY_ORDER, TenancyMiddleware
from svc_tenancy.models import ACTIVE, SUSPENDED, Tenant
from svc_tenancy.plugin import STORE_KEY, TenancyPlugin
from svc_tenancy.propagation import bind_tenant, tenant_from_labels, tenant_labels, with_tenant
from svc_tenancy.quotas import PlanQuotaProvider
from svc_tenancy.resolution import TenantResolver
from svc_tenancy.rls import disable_rls, enable_rls, policy_sql
from svc_tenancy.scoping import (
    INCLUDE_DELETED,
    TenantSession,
    scope_database,
    tenant_sessionmaker,
    tenant_tables,
)
from svc_tenancy.settings import TenancySettings
from svc_tenancy.store import TenantInfo, TenantStore
from svc_tenancy.system import (
    SystemContextEvent,
    add_audit_hook,
    in_system_context,
    remove_audit_hook,
    system_context,
)

__version__ = _version("svc-tenancy")
__all__ = [
    "ACTIVE",
    "INCLUDE_DELETED",
    "PROTECTED_FIELDS",
    "SESSIONMAKER_KEY",
    "STORE_KEY",
    "SUSPENDED",
    "TENANCY_ORDER",
    "CrossTenantWriteError",
    "InvalidCursorError",
    "Page",
    "PlanQuotaProvider",
    "StaleVersionError",
    "SvcTenancyError",
    "SystemContextEvent",
    "TenancyMiddleware",
    "TenancyPlugin",
    "TenancySettings",
    "Tenant",
    "TenantContextMissingError",
    "TenantInfo",
    "TenantMismatchError",
    "TenantResolver",
    "TenantSession",
    "TenantStore",
    "TenantSuspendedError",
    "TenantUnknownError",
    "__version__",
    "add_audit_hook",
    "bind_tenant",
    "current_tenant",
    "disable_rls",
    "enable_rls",
    "export_tenant",
    "in_system_context",
    "policy_sql",
    "remove_audit_hook",
    "require_roles",
    "scope_database",
    "system_context",
    "tenant_crud_router",
    "tenant_from_labels",
    "tenant_labels",
    "tenant_owned_tables",
    "tenant_sessionmaker",
    "tenant_tables",
    "version_etag",
    "with_tenant",
]
