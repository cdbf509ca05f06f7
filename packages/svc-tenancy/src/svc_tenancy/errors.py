"""Errors raised by svc-tenancy.

Every error subclasses :class:`SvcTenancyError`, itself a
:class:`svc_core.errors.SvcError`, so the handlers svc-core installs render it as
problem+json. Problem types (``https://…/problems/<slug>``):

=========================== ====== ===================================================
slug                        status when
=========================== ====== ===================================================
``tenant-suspended``        403    the credential's tenant is suspended
``tenant-unknown``          403    the tenant does not exist and may not be provisioned
``tenant-mismatch``         403    two strategies name different tenants
``tenant-context-missing``  500    a tenant-owned query ran with no tenant (fail closed)
``cross-tenant-write``      500    a row of another tenant was about to be written
``invalid-cursor``          400    a pagination cursor that this service did not issue
``stale-version``           409    the body's ``version`` is not the stored one
=========================== ====== ===================================================
"""

from __future__ import annotations

from svc_core.errors import SvcError

__all__ = [
    "CrossTenantWriteError",
    "InvalidCursorError",
    "StaleVersionError",
    "SvcTenancyError",
    "TenantContextMissingError",
    "TenantMismatchError",
    "TenantSuspendedError",
    "TenantUnknownError",
]


class SvcTenancyError(SvcError):
    """Root of every svc-tenancy error."""


class TenantSuspendedError(SvcTenancyError):
    """The tenant exists but is suspended: every request on its behalf is refused."""

    status_code = 403
    type_slug = "tenant-suspended"
    title = "Tenant Suspended"


class TenantUnknownError(SvcTenancyError):
    """The tenant named by the request does not exist (and auto-provisioning is off)."""

    status_code = 403
    type_slug = "tenant-unknown"
    title = "Unknown Tenant"


class TenantMismatchError(SvcTenancyError):
    """Two resolution strategies disagree (e.g. the subdomain is not the token's tenant)."""

    status_code = 403
    type_slug = "tenant-mismatch"
    title = "Tenant Mismatch"


class TenantContextMissingError(SvcTenancyError):
    """A query touched a tenant-owned table while no tenant was in context.

    This is a programming error (a route without ``require_tenant``, a job without the
    tenant carried over): the query is refused rather than run unfiltered. Wrap admin
    and cross-tenant work in :func:`svc_tenancy.system_context`.
    """

    status_code = 500
    type_slug = "tenant-context-missing"
    title = "Tenant Context Missing"


class CrossTenantWriteError(SvcTenancyError):
    """A flush would insert or move a row into a tenant other than the current one."""

    status_code = 500
    type_slug = "cross-tenant-write"
    title = "Cross-Tenant Write Refused"


class InvalidCursorError(SvcTenancyError):
    """The ``cursor`` query parameter was not issued by this service."""

    status_code = 400
    type_slug = "invalid-cursor"
    title = "Invalid Cursor"


class StaleVersionError(SvcTenancyError):
    """The ``version`` in the request body is not the stored version (optimistic lock)."""

    status_code = 409
    type_slug = "stale-version"
    title = "Stale Version"
