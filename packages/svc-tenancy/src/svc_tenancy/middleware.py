"""The tenancy layer: pure ASGI, order 750 (after auth 650 and rate limiting 700).

It resolves the request's tenant (:class:`~svc_tenancy.resolution.TenantResolver`),
refuses unknown, mismatched or suspended tenants with a 403 problem, and otherwise runs
the rest of the stack with the tenant in :mod:`svc_core.context` (and the
:class:`~svc_tenancy.store.TenantInfo` in ``scope["state"]["tenant"]``). Routes then
use :func:`svc_core.dependencies.require_tenant` or :func:`svc_tenancy.current_tenant`.
A request that names no tenant passes through untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from svc_core.context import scope as context_scope
from svc_core.errors import PROBLEM_CONTENT_TYPE, SvcError, problem_bytes

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from svc_tenancy.resolution import TenantResolver

__all__ = ["TENANCY_ORDER", "TenancyMiddleware"]

TENANCY_ORDER: Final = 750


class TenancyMiddleware:
    """Resolve and validate the tenant, then set it in svc-core's context.

    Args:
        app: The wrapped ASGI app.
        resolver: How the tenant is found and checked.
    """

    def __init__(self, app: ASGIApp, *, resolver: TenantResolver) -> None:
        self.app = app
        self.resolver = resolver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            tenant = await self.resolver.resolve(scope)
        except SvcError as exc:
            body = problem_bytes(
                exc.status_code,
                detail=exc.detail,
                type_=exc.type,
                title=exc.title,
                extensions=exc.extensions,
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": exc.status_code,
                    "headers": [
                        (b"content-type", PROBLEM_CONTENT_TYPE.encode("ascii")),
                        (b"content-length", str(len(body)).encode("ascii")),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if tenant is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["tenant"] = tenant
        with context_scope(tenant_id=tenant.id):
            await self.app(scope, receive, send)
