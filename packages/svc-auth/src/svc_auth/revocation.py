"""Revoked sessions, checked locally on every request and invalidated promptly everywhere.

A revoked session's access tokens must be refused at their next use on every replica,
yet a key-value round trip per request would cost as much as the request itself. So:

1. ``revoke(sid)`` writes ``auth:revoked:<sid>`` to the key-value store (expiring with
   the longest access-token life), adds the id to this process' local set, then
   announces it on the ``<namespace>auth:revocations`` channel (Redis pub/sub; on the
   memory store, every registry sharing the store object hears it directly).
2. Every replica's subscriber adds announced ids to its local set. The middleware checks
   that set on every request: a dictionary lookup.
3. A token seen for the first time by a replica is checked against the store once
   (``is_revoked``); later requests rely on the local set alone.
4. While the subscription is down the registry is *unhealthy*: the middleware checks the
   store on every request (slower, still correct). When it is back, ``on_resync`` runs
   (the middleware forgets which tokens it verified) before it is healthy again, so an
   announcement missed during the outage cannot be missed for good.

Redis queues a PUBLISH for the subscriber sockets and the publisher's reply in the same
event-loop turn, but may write the publisher's reply first; a busy machine can delay the
subscriber's copy past the moment the client calls another replica (seen once in CI).
So ``revoke`` follows its PUBLISH with a PING: Redis reads the PING in a later turn,
after every write of the PUBLISH's turn is done, so when ``revoke`` returns the
announcement is already in every subscriber's socket, and the other replica's
synchronous drain finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

from svc_auth.channel import RedisSubscriber, subscriber_address

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from svc_core.kv import KV

__all__ = ["RevocationRegistry"]

logger = logging.getLogger("svc_auth.revocation")

_PREFIX = "auth:revoked:"
_CHANNEL = "auth:revocations"
# Memory stores are per process: registries sharing one store object hear each other.
_LOCAL_BUS: weakref.WeakKeyDictionary[Any, weakref.WeakSet[RevocationRegistry]] = (
    weakref.WeakKeyDictionary()
)


class RevocationRegistry:
    """The revoked-session set of one process, kept in step with the other replicas.

    Args:
        kv: The shared key-value store (memory or Redis).
        ttl: Seconds a revocation must be remembered: the longest access-token life
            plus the leeway (after that every token of the session has expired).
        clock: Local seconds, for expiring the local set.
    """

    def __init__(self, kv: KV, *, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.kv = kv
        self.ttl = ttl
        self.clock = clock
        self.on_resync: Callable[[], None] | None = None
        self._local: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._healthy = kv.backend == "memory"
        self._channel = kv.namespace + _CHANNEL
        self._stopping = False
        self._subscriber: RedisSubscriber | None = None
        if kv.backend == "memory":
            _LOCAL_BUS.setdefault(kv, weakref.WeakSet()).add(self)

    @property
    def healthy(self) -> bool:
        """Whether announcements from other replicas are being received."""
        return self._healthy

    def sync(self) -> None:
        """Consume every announcement already delivered to this process (non-blocking)."""
        if self._subscriber is not None:
            self._subscriber.drain()

    def is_revoked_local(self, sid: str) -> bool:
        """Whether ``sid`` is in the local set (no network round trip)."""
        expiry = self._local.get(sid)
        if expiry is None:
            return False
        if expiry < self.clock():
            self._local.pop(sid, None)
            return False
        return True

    async def is_revoked(self, sid: str) -> bool:
        """Whether ``sid`` is revoked, asking the store when the local set does not know."""
        if self.is_revoked_local(sid):
            return True
        if await self.kv.exists(_PREFIX + sid):
            self._remember([sid])
            return True
        return False

    async def revoke(self, sids: Iterable[str]) -> None:
        """Revoke ``sids`` everywhere: store, local set, then announce to other replicas."""
        ids = [str(s) for s in sids]
        if not ids:
            return
        for sid in ids:
            await self.kv.set(_PREFIX + sid, "1", ttl=self.ttl)
        self._remember(ids)
        if self.kv.backend == "memory":
            for other in list(_LOCAL_BUS.get(self.kv, ())):
                other._remember(ids)
            return
        client: Any = getattr(self.kv, "client", None)
        if client is not None:
            try:
                await client.publish(self._channel, ",".join(ids))
                # The barrier described in the module docstring.
                await client.ping()
            except Exception:  # noqa: BLE001 - subscribers resync from the store
                logger.warning("could not announce a revocation; replicas will resync")

    def _remember(self, ids: Iterable[str]) -> None:
        deadline = self.clock() + self.ttl
        for sid in ids:
            self._local[sid] = deadline
        if len(self._local) > 100_000:
            now = self.clock()
            self._local = {k: v for k, v in self._local.items() if v >= now}

    async def start(self) -> None:
        """Start listening to other replicas (Redis only; a no-op in memory)."""
        if self.kv.backend == "memory" or self._task is not None:
            return
        self._stopping = False
        address = subscriber_address(getattr(self.kv, "client", None))
        if address is None:
            self._task = asyncio.create_task(self._listen(), name="svc-auth-revocations")
            return
        self._subscriber = RedisSubscriber(
            address,
            self._channel,
            on_message=self._announced,
            on_subscribed=self._resynced,
            on_lost=self._lost,
        )
        self._task = asyncio.create_task(self._subscriber.run(), name="svc-auth-revocations")

    def _announced(self, data: bytes) -> None:
        self._remember(s for s in data.decode(errors="replace").split(",") if s)

    def _lost(self) -> None:
        self._healthy = False

    async def stop(self) -> None:
        """Stop listening."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._subscriber = None
        if self.kv.backend != "memory":
            self._healthy = False

    async def _listen(self) -> None:
        # Fallback for connections the plain subscriber does not speak (TLS): redis-py's
        # reader task. Announcements are applied when the task runs, usually before the
        # next request but without the synchronous drain's guarantee.
        client: Any = getattr(self.kv, "client", None)
        if client is None:  # pragma: no cover - a store without a Redis client
            return
        while not self._stopping:
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                while not self._stopping:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is None:
                        continue
                    if msg.get("type") == "subscribe":
                        self._resynced()
                    elif msg.get("type") == "message":
                        data = msg.get("data") or b""
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        self._remember(s for s in text.split(",") if s)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - any failure: resubscribe and resync
                logger.warning("revocation channel lost; checking the store per request")
            finally:
                self._healthy = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            if not self._stopping:
                await asyncio.sleep(0.5)

    def _resynced(self) -> None:
        if self.on_resync is not None:
            self.on_resync()
        self._healthy = True
