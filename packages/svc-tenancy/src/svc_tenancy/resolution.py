"""Which tenant is this request for? :class:`TenantResolver`.

Strategies (``SVC_TENANCY__STRATEGIES``, all on by default; the last two do nothing until
configured):

* ``claim`` — the default: the verified credential's ``tid`` claim (a user or service
  principal set by svc-auth's middleware in :mod:`svc_core.context`);
* ``api_key`` — a principal of kind ``"api_key"`` carries its tenant in ``claims["tid"]``;
* ``subdomain`` — ``<slug>.<SVC_TENANCY__SUBDOMAIN_BASE>`` in the ``Host`` header names
  a tenant by slug. A client controls ``Host``, so when a credential also names a
  tenant they must agree (else 403 ``tenant-mismatch``);
* ``gateway`` — the header ``SVC_TENANCY__GATEWAY_HEADER`` set by a trusted gateway,
  honoured only when the TCP peer is in ``SVC_HTTP__TRUSTED_PROXIES``; from anyone else
  it is ignored. Off unless the header name is configured.

A tenant named by a verified credential that does not exist yet is created ``active`` on
the default plan when ``SVC_TENANCY__AUTO_PROVISION`` is on (the default): svc-auth gives
every user a personal tenant id but cannot create the row itself. A suspended tenant →
403 ``tenant-suspended``.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

from svc_core.context import get_principal, get_tenant_id
from svc_tenancy.errors import TenantMismatchError, TenantSuspendedError, TenantUnknownError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from starlette.types import Scope

    from svc_tenancy.settings import TenancySettings
    from svc_tenancy.store import TenantInfo, TenantStore

__all__ = ["TenantResolver"]

logger = logging.getLogger("svc_tenancy.resolution")

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(entries: Sequence[str]) -> list[_Network]:
    return [ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip()]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class TenantResolver:
    """Resolve and validate the tenant of a request (see the module docstring).

    Args:
        store: Tenant lookups (and auto-provisioning).
        settings: ``SVC_TENANCY__…``.
        trusted_proxies: Addresses/CIDRs allowed to set the gateway header.
    """

    def __init__(
        self,
        store: TenantStore,
        settings: TenancySettings,
        *,
        trusted_proxies: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.settings = settings
        self._strategies = frozenset(settings.strategies)
        self._trusted = _networks(trusted_proxies)
        self._base = (settings.subdomain_base or "").lower().strip(".") or None
        gateway = settings.gateway_header if "gateway" in self._strategies else None
        self._gateway = gateway.lower().encode("latin-1") if gateway else None

    def credential_tenant(self) -> str | None:
        """The tenant id the verified credential names, or ``None``."""
        principal = get_principal()
        if principal is None:
            return None
        strategy = "api_key" if principal.kind == "api_key" else "claim"
        if strategy not in self._strategies:
            return None
        tid = principal.claims.get("tid") if principal.claims else None
        tid = tid or get_tenant_id()
        return str(tid) if tid else None

    def _subdomain_slug(self, scope: Scope) -> str | None:
        if self._base is None or "subdomain" not in self._strategies:
            return None
        host = (_header(scope, b"host") or "").lower().rsplit(":", 1)[0].rstrip(".")
        suffix = "." + self._base
        if not host.endswith(suffix):
            return None
        label = host[: -len(suffix)]
        return label if label and "." not in label else None

    def _gateway_tenant(self, scope: Scope) -> str | None:
        if self._gateway is None:
            return None
        value = _header(scope, self._gateway)
        if not value:
            return None
        client = scope.get("client")
        try:
            peer = ipaddress.ip_address(client[0]) if client else None
        except ValueError:
            peer = None
        if peer is None or not any(peer in net for net in self._trusted):
            logger.warning("ignored tenant header from untrusted peer %s", client and client[0])
            return None
        return value.strip() or None

    async def resolve(self, scope: Scope) -> TenantInfo | None:
        """The validated tenant of the request in ``scope``, or ``None`` if none is named.

        Raises:
            TenantMismatchError: Strategies name different tenants.
            TenantUnknownError: The named tenant does not exist (and is not provisioned).
            TenantSuspendedError: The tenant is suspended.
        """
        from_credential = self.credential_tenant()
        other: TenantInfo | None = None
        slug = self._subdomain_slug(scope)
        if slug is not None:
            other = await self.store.get_by_slug(slug)
            if other is None:
                msg = f"no tenant for the host's subdomain {slug!r}"
                raise TenantUnknownError(msg)
        gateway_tid = self._gateway_tenant(scope)
        if gateway_tid is not None:
            if other is not None and other.id != gateway_tid:
                raise TenantMismatchError("The gateway and the host name different tenants.")
            other = await self.store.get(gateway_tid)
            if other is None:
                raise TenantUnknownError("The gateway names an unknown tenant.")
        if from_credential is not None:
            if other is not None and other.id != from_credential:
                raise TenantMismatchError("The credential belongs to another tenant.")
            info = await self.store.get(from_credential)
            if info is None:
                if not self.settings.auto_provision:
                    raise TenantUnknownError("The credential names an unknown tenant.")
                info = await self.store.ensure(from_credential)
                logger.info("provisioned tenant %s on first use", info.id)
        elif other is not None:
            info = other
        else:
            return None
        if not info.is_active:
            raise TenantSuspendedError("This tenant is suspended.")
        return info
