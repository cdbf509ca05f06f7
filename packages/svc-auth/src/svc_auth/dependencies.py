"""FastAPI dependencies for routes of any app that uses svc-auth.

* :func:`current_principal` / :func:`require_auth` — the authenticated caller, or 401
  with ``WWW-Authenticate: Bearer``;
* :func:`optional_auth` — the caller or ``None``.

They read the principal :class:`~svc_auth.middleware.AuthMiddleware` put into
svc-core's context. Without the middleware (an app that only added the router), they
verify the ``Authorization`` header themselves and set the principal and tenant in
svc-core's context for the rest of the request, so svc-core's ``require_tenant`` and
other packages see them too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request  # noqa: TC002 - FastAPI resolves dependency annotations

from svc_auth.errors import InvalidTokenError
from svc_auth.middleware import SCOPE_KEY
from svc_core.context import Principal, get_principal, set_principal, set_tenant_id

if TYPE_CHECKING:
    from svc_auth.service import AuthService

__all__ = ["auth_service", "current_principal", "optional_auth", "require_auth"]

_CHECKED = "svc_auth.checked"


async def auth_service(request: Request) -> AuthService:
    """The :class:`~svc_auth.service.AuthService` installed on this app.

    ``async`` on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a
    thread hand-off on every auth request for a dictionary lookup.

    Raises:
        RuntimeError: svc-auth is not installed on the app.
    """
    service: AuthService | None = getattr(request.app.state, "svc_auth", None)
    if service is None:
        msg = "svc-auth is not installed on this app (AuthPlugin or svc_auth.Auth.install)"
        raise RuntimeError(msg)
    return service


async def _authenticate(request: Request) -> Principal | None:
    principal = get_principal()
    if principal is not None:
        return principal
    scope = request.scope
    if scope.get(SCOPE_KEY) or scope.get(_CHECKED):
        return None
    scope[_CHECKED] = True
    header = request.headers.get("authorization")
    service: AuthService | None = getattr(request.app.state, "svc_auth", None)
    if not header or service is None or not service.started:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        found = await service.verifier.verify(token.strip())
    except InvalidTokenError:
        return None
    set_principal(found.principal)
    set_tenant_id(found.tenant_id)
    return found.principal


async def optional_auth(request: Request) -> Principal | None:
    """The authenticated caller, or ``None`` for an anonymous (or invalid) one."""
    return await _authenticate(request)


async def current_principal(request: Request) -> Principal:
    """The authenticated caller.

    Raises:
        InvalidTokenError: No valid bearer token (401 + ``WWW-Authenticate``).
    """
    principal = await _authenticate(request)
    if principal is None:
        raise InvalidTokenError
    return principal


#: Alias of :func:`current_principal`, for ``dependencies=[Depends(require_auth)]``.
require_auth = current_principal
