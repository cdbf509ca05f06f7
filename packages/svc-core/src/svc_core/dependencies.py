"""FastAPI dependencies over the shared context, for packages that must not import svc-auth.

Whatever authenticated the request (svc-auth's middleware, an API-key check, a test)
puts the principal and tenant into :mod:`svc_core.context`; these dependencies read
them and fail closed:

* :func:`require_principal` → the principal, or 401 with ``WWW-Authenticate``;
* :func:`require_tenant` → the tenant id, or 401 without a principal and 403 when the
  credential names no tenant;
* :func:`optional_principal` → the principal or ``None``.
"""

from __future__ import annotations

from svc_core.context import Principal, get_principal, get_tenant_id
from svc_core.errors import ForbiddenError, UnauthorizedError

__all__ = ["optional_principal", "require_principal", "require_tenant"]


async def optional_principal() -> Principal | None:
    """The current principal, or ``None`` for an anonymous caller."""
    return get_principal()


async def require_principal() -> Principal:
    """The current principal.

    Raises:
        UnauthorizedError: Nobody is authenticated.
    """
    principal = get_principal()
    if principal is None:
        raise UnauthorizedError("Authentication is required.")
    return principal


async def require_tenant() -> str:
    """The current tenant id (from the credential, never from a client header).

    Raises:
        UnauthorizedError: Nobody is authenticated.
        ForbiddenError: The credential carries no tenant.
    """
    if get_principal() is None:
        raise UnauthorizedError("Authentication is required.")
    tenant = get_tenant_id()
    if not tenant:
        raise ForbiddenError("The credential does not name a tenant.")
    return tenant
