"""Leases: a claim on a key, held by an owner token for a limited time.

A lease is how one process among many gets to do a piece of work alone (the
in-flight idempotency claim, a scheduler tick, a job's visibility): the claim expires
by itself, so a crashed holder never leaves a key stuck forever.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from svc_core.kv.errors import KVError, LeaseUnavailableError

if TYPE_CHECKING:
    from types import TracebackType

    from svc_core.kv.base import KV

__all__ = ["Lease", "new_owner"]

logger = logging.getLogger("svc_core.kv")


def new_owner() -> str:
    """A random 128-bit owner token (32 hex characters)."""
    return secrets.token_hex(16)


class Lease:
    """A claim on ``key`` for ``lease`` seconds, released when the block exits.

    Example::

        async with kv.lease("jobs:{nightly}:tick", lease=30) as lease:
            await do_work()
            await lease.extend()   # still working: push the expiry back

    Entering claims the key or raises :class:`LeaseUnavailableError` (409) when another
    owner holds it. Exiting releases the claim *whatever happened inside*, including an
    exception or a cancellation (release-on-failure), so a failed attempt never blocks
    the next one until the lease runs out. The release is compare-and-delete: a lease
    that expired and was taken by someone else is left alone.

    Releasing on exit is best effort: when the store is unreachable the failure is
    logged and the claim simply expires, so it never masks the block's own outcome.

    Attributes:
        key: The claimed key (without namespace).
        owner: The token stored as the claim's value.
        lease: Seconds the claim lives unless extended.
    """

    def __init__(self, kv: KV, key: str, lease: float = 30.0, *, owner: str | None = None) -> None:
        """Prepare a lease; nothing is claimed until :meth:`acquire` or ``async with``.

        Args:
            kv: The store.
            key: The key to claim (without namespace).
            lease: Seconds the claim lives unless extended or released.
            owner: The owner token; a random 128-bit token by default.
        """
        self.kv = kv
        self.key = key
        self.lease = lease
        self.owner = owner if owner is not None else new_owner()
        self._held = False

    @property
    def held(self) -> bool:
        """Whether this object claimed the key and has not released it yet.

        It does not consult the store: a lease that ran out is still ``held`` here
        until :meth:`extend` or :meth:`release` finds out.
        """
        return self._held

    async def acquire(self) -> Lease:
        """Claim the key.

        Raises:
            LeaseUnavailableError: Another owner holds the key.
            KVUnavailableError: The store did not answer.
        """
        if not await self.kv.claim(self.key, self.owner, self.lease):
            raise LeaseUnavailableError(self.key)
        self._held = True
        return self

    async def extend(self, lease: float | None = None) -> bool:
        """Push the expiry back to ``lease`` (default: the original lease) seconds from now.

        Returns:
            ``False`` when the claim was lost (it expired, maybe taken by another owner):
            the caller should stop the work it protects.
        """
        if lease is not None:
            self.lease = lease
        ok = await self.kv.extend(self.key, self.owner, self.lease)
        if not ok:
            self._held = False
        return ok

    async def release(self) -> bool:
        """Release the claim if this owner still holds it; return whether it did."""
        self._held = False
        return await self.kv.release(self.key, self.owner)

    async def __aenter__(self) -> Lease:
        """Claim the key (see :meth:`acquire`)."""
        return await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Release the claim, even when the block raised."""
        if not self._held:
            return
        try:
            released = await self.release()
        except KVError:
            # The claim expires by itself; raising here would hide the block's outcome.
            logger.warning("could not release lease %r; it will expire", self.key, exc_info=True)
            return
        if not released:
            logger.warning("lease %r expired before it was released", self.key)
