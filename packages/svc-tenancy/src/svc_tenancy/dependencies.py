"""FastAPI dependencies: the current tenant and role checks with an audited denial."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import Request  # noqa: TC002 - FastAPI resolves the annotation at run time

from svc_core.context import Principal, get_request_id
from svc_core.dependencies import require_principal, require_tenant
from svc_core.errors import ForbiddenError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from svc_tenancy.store import TenantInfo

__all__ = ["current_tenant", "require_roles"]

audit_logger = logging.getLogger("svc_tenancy.audit")


async def current_tenant(request: Request) -> TenantInfo:
    """The validated tenant of the request (set by :class:`~svc_tenancy.TenancyMiddleware`).

    Raises:
        UnauthorizedError: Nobody is authenticated (401 with ``WWW-Authenticate``).
        ForbiddenError: The credential names no tenant.
    """
    await require_tenant()
    tenant: TenantInfo | None = request.scope.get("state", {}).get("tenant")
    if tenant is None:
        raise ForbiddenError("The credential does not name a tenant.")
    return tenant


def require_roles(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting principals holding at least one of ``roles``.

    A denial is written to the audit log (logger ``svc_tenancy.audit``: who, which
    route, which roles were needed) and answered 403; no principal → 401.

    Example::

        router = tenant_crud_router(..., delete_dependencies=[Depends(require_roles("admin"))])
    """
    needed = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        principal = await require_principal()
        if needed and not (principal.roles & needed):
            audit_logger.warning(
                "access denied: subject=%s kind=%s method=%s path=%s needed=%s request_id=%s",
                principal.subject,
                principal.kind,
                request.method,
                request.url.path,
                ",".join(sorted(needed)),
                get_request_id(),
            )
            raise ForbiddenError("Your role does not allow this action.")
        return principal

    return dependency
