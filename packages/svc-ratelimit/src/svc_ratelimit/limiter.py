"""The limiter: decisions on a key-value store, with a fallback when the store is down.

:class:`RateLimiter` runs a policy's algorithm as one atomic script on the store
(``EVALSHA`` on Redis: one round trip per decision). When the store is unreachable
(:class:`~svc_core.kv.KVUnavailableError`, which Redis raises within its 250 ms timeout)
the policy's store-error mode applies — ``open``, ``closed`` (503) or ``local`` (the same
algorithm on an in-process store, a per-process cap) — the limiter reports itself
degraded (metric + one log line), skips the store for ``retry_store_after`` seconds, then
tries it again and recovers on the first success.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from svc_core.context import get_tenant_id
from svc_core.kv import KV, KVUnavailableError, MemoryKV
from svc_ratelimit.algorithms import (
    ALGORITHMS,
    CONCURRENCY_ACQUIRE,
    CONCURRENCY_RELEASE,
)
from svc_ratelimit.errors import RateLimiterUnavailableError, RateLimitExceededError
from svc_ratelimit.keys import partition_key, storage_keys
from svc_ratelimit.local import LocalRates
from svc_ratelimit.metrics import limiter_metrics
from svc_ratelimit.policy import Decision, KeyBy, Policy, StoreErrorMode

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from prometheus_client import Counter

__all__ = ["AbuseEvent", "AbuseHook", "ConcurrencyLimit", "RateLimiter"]

logger = logging.getLogger("svc_ratelimit")

_CODES = {"fixed_window": "fw", "sliding_window": "sw", "gcra": "gc"}
_MAX_TRACKED = 10_000


@dataclass(frozen=True, slots=True)
class AbuseEvent:
    """A partition was refused ``rejections`` times within ``window`` seconds.

    Attributes:
        policy: The policy's name.
        partition: The partition (``"<tenant>|p:<subject>"`` or ``"<tenant>|ip:<addr>"``).
        rejections: Refusals counted when the hook fired.
        window: The observation window in seconds.
    """

    policy: str
    partition: str
    rejections: int
    window: float


#: Called (sync or async; exceptions are logged, never raised) on repeated rejections.
AbuseHook: TypeAlias = Callable[[AbuseEvent], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class ConcurrencyLimit:
    """At most ``limit`` requests in flight per partition.

    Attributes:
        name: Shown in ``violated-policies`` and part of the storage key.
        limit: Requests allowed in flight at once.
        lease: Seconds after which a slot held by a crashed process is given back.
        key_by: ``principal`` or ``client`` (see :class:`~svc_ratelimit.Policy`).
        on_store_error: Behaviour when the store is unreachable (``None``: the
            limiter's default).
    """

    name: str
    limit: int
    lease: float = 60.0
    key_by: KeyBy = "principal"
    on_store_error: StoreErrorMode | None = None


class RateLimiter:
    """Takes rate-limit decisions on a :class:`~svc_core.kv.KV`.

    Args:
        kv: The store (``runtime.kv``: memory on the embedded profile, Redis in
            production).
        on_store_error: Default behaviour when the store is unreachable: ``local``
            (default: an in-process cap, no 5xx), ``open`` or ``closed`` (503).
        retry_store_after: Seconds to skip the store after a failure before trying
            it again (so an outage costs one timeout per interval, not per request).
        key_prefix: Prefix of the limiter's keys inside the store's namespace.
        abuse_hook: Called with an :class:`AbuseEvent` when one partition is refused
            ``abuse_threshold`` times within ``abuse_window`` seconds (once per window).
        abuse_threshold: Refusals that fire the hook.
        abuse_window: Seconds over which refusals are counted (per process).
        clock: Monotonic clock for the store back-off and abuse windows.
    """

    def __init__(
        self,
        kv: KV,
        *,
        on_store_error: StoreErrorMode = "local",
        retry_store_after: float = 1.0,
        key_prefix: str = "rl:",
        abuse_hook: AbuseHook | None = None,
        abuse_threshold: int = 20,
        abuse_window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kv = kv
        self.on_store_error: StoreErrorMode = on_store_error
        self._retry_after = retry_store_after
        self._prefix = key_prefix
        # On the memory store the rate algorithms run natively (same arithmetic, numbers
        # instead of the Redis twin's strings); the ``local`` fallback does too.
        self._native = LocalRates(kv.clock) if isinstance(kv, MemoryKV) else None
        self._local_rates = LocalRates()
        self._local = MemoryKV(kv.namespace)  # concurrency slots while the store is down
        self._clock = clock
        self._down_until = 0.0
        self._degraded = False
        self._abuse_hook = abuse_hook
        self._abuse_threshold = abuse_threshold
        self._abuse_window = abuse_window
        self._rejections: dict[tuple[str, str], list[float]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._metrics = limiter_metrics()
        self._counters: dict[tuple[str, str], Counter] = {}
        self._keys: dict[tuple[str, str, str | None], list[str]] = {}

    @property
    def degraded(self) -> bool:
        """Whether the store was unreachable at the last attempt."""
        return self._degraded

    def keys(self, policy: Policy, identity: str, tenant: str | None) -> list[str]:
        """The store keys (without the store namespace) of ``policy`` for a partition."""
        cache_key = (policy.key_id, identity, tenant)
        cached = self._keys.get(cache_key)
        if cached is not None:
            return cached
        partition = partition_key(tenant, identity)
        name = f"{policy.name}:{_CODES[policy.algorithm]}"
        keys = storage_keys(self._prefix, partition, name, [lim.window for lim in policy.limits])
        if len(self._keys) >= _MAX_TRACKED:
            self._keys.clear()  # a bounded cache: busy partitions come straight back
        self._keys[cache_key] = keys
        return keys

    async def hit(
        self, policy: Policy, identity: str, *, tenant: bool | str | None = True
    ) -> Decision:
        """Count one request of ``identity`` against ``policy`` and decide.

        Args:
            policy: The policy.
            identity: ``"p:<subject>"`` or ``"ip:<address>"`` (see
                :func:`~svc_ratelimit.keys.partition_key`).
            tenant: The tenant id; ``True`` (default) reads it from
                :func:`svc_core.context.get_tenant_id`.

        Returns:
            The decision; when refused nothing was counted.

        Raises:
            RateLimiterUnavailableError: The store is unreachable and the policy fails
                closed.
        """
        tid = get_tenant_id() if tenant is True else (tenant or None)
        keys = self.keys(policy, identity, tid if isinstance(tid, str) else None)
        if self._native is not None:
            return self._decide_native(self._native, policy, keys)
        script = ALGORITHMS[policy.algorithm]
        if not (self._down_until and self._clock() < self._down_until):
            try:
                reply = await self.kv.run(script, keys, policy.script_args)
            except KVUnavailableError:
                self._store_failed()
            else:
                if self._degraded:
                    self._recovered()
                decision = Decision.from_reply(policy, reply)
                self._count(policy.name, "allowed" if decision.allowed else "rejected")
                if not decision.allowed:
                    self._rejected(policy.name, keys[0])
                return decision
        mode = policy.on_store_error or self.on_store_error
        if mode == "open":
            self._count(policy.name, "fail_open")
            return Decision(allowed=True, policy=policy, degraded=True)
        if mode == "closed":
            self._count(policy.name, "fail_closed")
            raise RateLimiterUnavailableError(max(1, round(self._retry_after)))
        reply = self._local_rates.hit(policy.algorithm, keys, policy.cost, policy.limits_ms)
        decision = Decision.from_reply(policy, reply, degraded=True)
        self._count(policy.name, "local_allowed" if decision.allowed else "local_rejected")
        return decision

    @property
    def in_process(self) -> bool:
        """Whether decisions are taken in this process (the memory store): then
        :meth:`hit_nowait` decides without awaiting."""
        return self._native is not None

    def hit_nowait(self, policy: Policy, identity: str, tenant: str | None) -> Decision:
        """:meth:`hit` without awaiting, for the in-process store (the middleware's fast
        path on the embedded profile).

        Raises:
            RuntimeError: The store is remote (:attr:`in_process` is false).
        """
        native = self._native
        if native is None:
            msg = "hit_nowait() needs the in-process store; await hit() instead"
            raise RuntimeError(msg)
        keys = self._keys.get((policy.key_id, identity, tenant))
        if keys is None:
            keys = self.keys(policy, identity, tenant)
        return self._decide_native(native, policy, keys)

    def _decide_native(self, native: LocalRates, policy: Policy, keys: list[str]) -> Decision:
        reply = native.hit(policy.algorithm, keys, policy.cost, policy.limits_ms)
        decision = Decision.from_reply(policy, reply)
        if reply[0]:
            self._count(policy.name, "allowed")
        else:
            self._count(policy.name, "rejected")
            self._rejected(policy.name, keys[0])
        return decision

    async def reset(self, policy: Policy, identity: str, *, tenant: str | None = None) -> None:
        """Forget the counts of one partition under ``policy`` (an operator's unblock)."""
        keys = self.keys(policy, identity, tenant)
        if self._native is not None:
            self._native.delete(*keys)
        else:
            await self.kv.delete(*keys)
        self._local_rates.delete(*keys)

    @asynccontextmanager
    async def concurrency(
        self, limit: ConcurrencyLimit, identity: str, *, tenant: bool | str | None = True
    ) -> AsyncIterator[None]:
        """Hold one of ``limit.limit`` in-flight slots of a partition for the block.

        Raises:
            RateLimitExceededError: Every slot is taken (429, ``Retry-After: 1``).
            RateLimiterUnavailableError: The store is down and the limit fails closed.
        """
        tid = get_tenant_id() if tenant is True else (tenant or None)
        partition = partition_key(tid if isinstance(tid, str) else None, identity)
        key = storage_keys(self._prefix, partition, f"{limit.name}:cc", [0])[0]
        args = [limit.limit, max(1, round(limit.lease * 1000))]
        store: KV | None = self.kv
        if self._down_until and self._clock() < self._down_until:
            store = None
        else:
            try:
                reply = await self.kv.run(CONCURRENCY_ACQUIRE, [key], args)
            except KVUnavailableError:
                self._store_failed()
                store = None
            else:
                if self._degraded:
                    self._recovered()
        if store is None:
            mode = limit.on_store_error or self.on_store_error
            if mode == "open":
                self._count(limit.name, "fail_open")
                yield
                return
            if mode == "closed":
                self._count(limit.name, "fail_closed")
                raise RateLimiterUnavailableError(max(1, round(self._retry_after)))
            store = self._local
            reply = await store.run(CONCURRENCY_ACQUIRE, [key], args)
        if not reply[0]:
            self._count(limit.name, "rejected")
            raise RateLimitExceededError([limit.name], retry_after=1)
        self._count(limit.name, "allowed")
        try:
            yield
        finally:
            try:
                await store.run(CONCURRENCY_RELEASE, [key], [])
            except KVUnavailableError:
                # The lease gives the slot back when the store returns.
                logger.warning("could not release a concurrency slot of %s", limit.name)

    # ----------------------------------------------------------------- internals

    def _count(self, policy: str, outcome: str) -> None:
        counter = self._counters.get((policy, outcome))
        if counter is None:
            counter = self._metrics.decisions.labels(policy=policy, outcome=outcome)
            self._counters[(policy, outcome)] = counter
        counter.inc()

    def _store_failed(self) -> None:
        self._metrics.store_errors.inc()
        self._down_until = self._clock() + self._retry_after
        if not self._degraded:
            self._degraded = True
            self._metrics.degraded.set(1)
            logger.warning(
                "rate limiter degraded: the store is unreachable; applying on_store_error=%s "
                "(auth routes fail closed) until it answers again",
                self.on_store_error,
            )

    def _recovered(self) -> None:
        self._degraded = False
        self._down_until = 0.0
        self._metrics.degraded.set(0)
        logger.warning("rate limiter recovered: the store answers again")

    def _rejected(self, policy: str, key: str) -> None:
        if self._abuse_hook is None:
            return
        now = self._clock()
        slot = (policy, key)
        seen = self._rejections.get(slot)
        if seen is None or now - seen[1] > self._abuse_window:
            if len(self._rejections) >= _MAX_TRACKED:
                self._rejections.clear()
            seen = self._rejections[slot] = [0.0, now]
        seen[0] += 1
        if seen[0] != self._abuse_threshold:
            return
        self._metrics.abuse.labels(policy=policy).inc()
        # The key carries the partition inside its hash tag.
        partition = key[key.index("{") + 1 : key.index("}")]
        event = AbuseEvent(policy, partition, int(seen[0]), self._abuse_window)
        try:
            result = self._abuse_hook(event)
        except Exception:
            logger.exception("the rate-limit abuse hook failed")
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._hook_done)

    def _hook_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("the rate-limit abuse hook failed", exc_info=task.exception())
