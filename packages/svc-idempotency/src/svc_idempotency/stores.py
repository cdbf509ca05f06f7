"""Where completed requests are kept: the key-value store (memory, Redis) or SQL.

Both stores keep *records* only. The in-flight claim always lives in the service's
key-value store as a svc-core claim with a lease (see :class:`~svc_idempotency.Idempotency`),
so a crashed process never leaves a key stuck.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from svc_idempotency.records import StoredResponse

if TYPE_CHECKING:
    from svc_core.kv import KV

__all__ = ["IdempotencyStore", "KVIdempotencyStore", "record_key"]


def record_key(scope: str) -> str:
    """The key-value key of a record (the scope digest is hash-tagged with the claim)."""
    return f"idem:{{{scope}}}:rec"


@runtime_checkable
class IdempotencyStore(Protocol):
    """Keeps completed requests for ``ttl`` seconds."""

    @property
    def backend(self) -> str:
        """``memory``, ``redis`` or ``sql``."""
        ...

    async def get(self, scope: str) -> StoredResponse | None:
        """The record of ``scope``, or ``None`` when absent or expired."""
        ...

    async def put(self, scope: str, record: StoredResponse, ttl: float) -> bool:
        """Store ``record`` unless one exists already; return whether it was written."""
        ...

    async def delete(self, scope: str) -> None:
        """Forget ``scope`` (administration and tests)."""
        ...


class KVIdempotencyStore:
    """Records in the svc-core key-value store (:class:`~svc_core.kv.MemoryKV` or Redis).

    Expiry is the store's own (``SET … PX``), on the store's clock.
    """

    def __init__(self, kv: KV) -> None:
        """Keep records in ``kv``."""
        self.kv = kv

    @property
    def backend(self) -> str:
        """The key-value backend: ``memory`` or ``redis``."""
        return self.kv.backend

    async def get(self, scope: str) -> StoredResponse | None:
        """The record of ``scope``, or ``None``."""
        raw = await self.kv.get(record_key(scope))
        return None if raw is None else StoredResponse.decode(raw)

    async def put(self, scope: str, record: StoredResponse, ttl: float) -> bool:
        """Write ``record`` if absent (``SET NX``), expiring after ``ttl`` seconds."""
        return await self.kv.set(record_key(scope), record.encode(), ttl=ttl, nx=True)

    async def delete(self, scope: str) -> None:
        """Forget ``scope``."""
        await self.kv.delete(record_key(scope))
