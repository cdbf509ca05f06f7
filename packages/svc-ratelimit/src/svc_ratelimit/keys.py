"""Who a request counts against: the partition key, and the client address behind proxies.

A partition is the tenant plus the principal's subject when authenticated, else the
client's address. ``X-Forwarded-For`` is believed only when the connection comes from a
configured trusted proxy (``SVC_HTTP__TRUSTED_PROXIES``), and then read from the right:
the first address that is not itself a trusted proxy is the client.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import TYPE_CHECKING

from svc_core.kv import hash_tag

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from starlette.types import Scope

__all__ = ["ClientAddressResolver", "partition_key", "storage_keys"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAX_PART = 128


class ClientAddressResolver:
    """The client address of an ASGI request, trusting forwarded headers only from proxies.

    Args:
        trusted_proxies: Addresses or CIDRs (``"10.0.0.0/8"``) whose
            ``X-Forwarded-For`` is believed.
        header: The forwarded header to read (lower case).
    """

    def __init__(
        self, trusted_proxies: Iterable[str] = (), *, header: str = "x-forwarded-for"
    ) -> None:
        self._networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in trusted_proxies if p.strip()
        )
        self._header = header.lower().encode("latin-1")

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self._networks)

    def __call__(self, scope: Scope) -> str:
        """The client address (``"unknown"`` when the server did not report one)."""
        client = scope.get("client")
        peer: str = client[0] if client else "unknown"
        if not self._networks or not self._trusted(peer):
            return peer
        hops: list[str] = []
        for name, value in scope.get("headers", ()):
            if name == self._header:
                hops += [h.strip() for h in value.decode("latin-1").split(",")]
        # Right to left: the nearest hop was added by our own trusted proxy.
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return peer  # a malformed chain: trust nothing beyond the proxy
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer


def _clean(part: str) -> str:
    # Injective escaping of what a hash tag cannot carry; long values are hashed so a
    # key stays short whatever a principal's subject looks like.
    if len(part) > _MAX_PART:
        return "h:" + hashlib.sha256(part.encode()).hexdigest()
    return part.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def partition_key(tenant: str | None, identity: str) -> str:
    """The partition of a request: ``"<tenant>|<identity>"`` (``-`` without a tenant).

    ``identity`` is ``"p:<subject>"`` for a principal or ``"ip:<address>"``.
    """
    return f"{_clean(tenant) if tenant else '-'}|{_clean(identity)}"


def storage_keys(
    prefix: str, partition: str, policy_name: str, windows: Sequence[int]
) -> list[str]:
    """The store keys of one decision: one per window, all in one Cluster slot.

    ``rl:{<tenant>|<identity>}:<policy>:<window>`` — the hash tag keeps a policy's keys
    together, and tenants never share a key.
    """
    tag = hash_tag(partition)
    return [f"{prefix}{tag}:{policy_name}:{w}" for w in windows]
