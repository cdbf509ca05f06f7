"""The client address of a request, trusting ``X-Forwarded-For`` only from known proxies."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["client_address"]


def _trusted(addr: str, proxies: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    for entry in proxies:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_address(scope: Any, trusted_proxies: Sequence[str] = ()) -> str | None:
    """The peer address; with a trusted peer, the right-most untrusted forwarded hop.

    Args:
        scope: The ASGI scope.
        trusted_proxies: Addresses or CIDRs (``SVC_HTTP__TRUSTED_PROXIES``).
    """
    client = scope.get("client")
    peer = str(client[0]) if client else None
    if peer is None or not trusted_proxies or not _trusted(peer, trusted_proxies):
        return peer
    hops: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            hops.extend(h.strip() for h in value.decode("latin-1").split(","))
    for hop in reversed(hops):
        if hop and not _trusted(hop, trusted_proxies):
            return hop
    return peer
