"""Login throttling per account and per client address, persisted in the key-value store.

After ``threshold`` failures within ``window`` seconds the account cools down for
``base`` seconds; every further failure doubles the cool-down up to ``max``. While
cooling down every attempt — even with the right password — answers 429 with
``Retry-After`` and is not checked at all. A successful login clears the account's
counter. Client addresses are counted the same way with their own threshold, so one
address cannot spray many accounts either. Expiry uses the store's clock (Redis
``PTTL``), so every replica agrees.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING

from svc_auth.errors import AccountLockedError
from svc_core.kv import hash_tag

if TYPE_CHECKING:
    from collections.abc import Callable

    from svc_core.kv import KV

__all__ = ["Lockout"]


def _digest(value: str) -> str:
    # Keys never hold an email or address in clear (they may show up in store dumps).
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class Lockout:
    """Failure counting with escalating cool-downs.

    Args:
        kv: The shared store.
        threshold: Failures per account before the first cool-down.
        base: First cool-down, seconds.
        max_seconds: Longest cool-down, seconds.
        window: Seconds a failure is remembered.
        ip_threshold: Failures per client address before it cools down.
        on_lock: Called each time a cool-down starts (metrics).
    """

    def __init__(
        self,
        kv: KV,
        *,
        threshold: int = 5,
        base: int = 30,
        max_seconds: int = 900,
        window: int = 3600,
        ip_threshold: int = 50,
        on_lock: Callable[[], None] | None = None,
    ) -> None:
        self.kv = kv
        self.threshold = threshold
        self.base = base
        self.max_seconds = max_seconds
        self.window = window
        self.ip_threshold = ip_threshold
        self._on_lock = on_lock

    @staticmethod
    def _keys(kind: str, ident: str) -> tuple[str, str]:
        tag = hash_tag(f"{kind}:{_digest(ident)}")
        return f"auth:fail:{tag}", f"auth:lock:{tag}"

    async def check(self, account: str, client: str | None) -> None:
        """Raise :class:`AccountLockedError` while ``account`` or ``client`` cools down."""
        waits = []
        for kind, ident in (("acct", account), ("ip", client)):
            if not ident:
                continue
            remaining = await self.kv.ttl(self._keys(kind, ident)[1])
            if remaining is not None and remaining > 0:
                waits.append(remaining)
        if waits:
            raise AccountLockedError(math.ceil(max(waits)))

    async def failure(self, account: str, client: str | None) -> None:
        """Count a failure; start (or lengthen) a cool-down past the threshold."""
        for kind, ident, threshold in (
            ("acct", account, self.threshold),
            ("ip", client, self.ip_threshold),
        ):
            if not ident:
                continue
            fail_key, lock_key = self._keys(kind, ident)
            count = await self.kv.incr(fail_key, ttl=self.window)
            if count >= threshold:
                seconds = min(self.max_seconds, self.base * 2 ** min(count - threshold, 20))
                await self.kv.set(lock_key, "1", ttl=seconds)
                if self._on_lock is not None:
                    self._on_lock()

    async def success(self, account: str) -> None:
        """Clear the account's failures and cool-down."""
        await self.kv.delete(*self._keys("acct", account))
