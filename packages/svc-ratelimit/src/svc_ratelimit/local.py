"""The native in-process store of the rate algorithms (the embedded profile's fast path).

On a :class:`~svc_core.kv.MemoryKV` the limiter does not run the algorithm scripts'
memory twins (which keep the Redis twin's ``b"index:current:previous"`` strings, so they
parse and format bytes on every request); it keeps each key's state as a tuple of numbers
in a :class:`LocalRates` and runs the same arithmetic (:data:`~svc_ratelimit.algorithms.
CORES`, shared with the twins), so a decision costs a few microseconds. The answers are
the same as on the scripts, decision by decision: the shared tests run every case on this
store, on the twins and on Redis.

It is also the limiter's ``local`` fallback while Redis is unreachable.

Expiry works as on the memory store: an entry past its deadline reads as absent, and every
decision removes at most ``sweep_batch`` expired entries (one heap entry per key, moved
forward when the key's deadline has moved), so memory stays proportional to the live keys
without a background task.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from typing import TYPE_CHECKING

from svc_ratelimit.algorithms import CORES

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from svc_ratelimit.algorithms import State

__all__ = ["LocalRates"]


class LocalRates:
    """Rate-limit state kept in this process, decided natively.

    Thread-safe (one lock around each decision), atomic on the event loop (nothing in a
    decision awaits).

    Args:
        clock: Seconds since the epoch (the limiter passes the memory store's clock, so
            a test's frozen clock drives both).
        sweep_batch: Most expired entries removed per decision.
    """

    __slots__ = ("_clock", "_data", "_heap", "_lock", "_sweep_batch")

    def __init__(self, clock: Callable[[], float] = time.time, *, sweep_batch: int = 64) -> None:
        self._clock = clock
        self._sweep_batch = sweep_batch
        # key -> (state, deadline in clock seconds)
        self._data: dict[str, tuple[State, float]] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Entries held, expired ones not yet swept included."""
        return len(self._data)

    def hit(
        self,
        algorithm: str,
        keys: Sequence[str],
        cost: float,
        limits: Sequence[tuple[float, float]],
    ) -> list[int]:
        """Decide one request atomically; the reply of the algorithm's script.

        Args:
            algorithm: ``fixed_window``, ``sliding_window`` or ``gcra``.
            keys: One key per limit.
            cost: Units the request consumes.
            limits: ``(quota, window_ms)`` per key.
        """
        core = CORES[algorithm]
        data = self._data
        with self._lock:
            now = self._clock()
            heap = self._heap
            if heap and heap[0][0] <= now:
                self._sweep(now)
            states = []
            for key in keys:
                entry = data.get(key)
                states.append(entry[0] if entry is not None and entry[1] > now else None)
            reply, writes = core(states, math.floor(now * 1000), cost, limits)
            if writes is not None:
                for i, (state, ttl_ms) in enumerate(writes):
                    key = keys[i]
                    deadline = now + ttl_ms / 1000
                    if key not in data:
                        heapq.heappush(heap, (deadline, key))
                    data[key] = (state, deadline)
        return reply

    def delete(self, *keys: str) -> int:
        """Forget ``keys``; the number that existed."""
        with self._lock:
            return sum(self._data.pop(key, None) is not None for key in keys)

    def _sweep(self, now: float) -> None:
        heap, data = self._heap, self._data
        for _ in range(self._sweep_batch):
            if not heap or heap[0][0] > now:
                return
            _, key = heapq.heappop(heap)
            entry = data.get(key)
            if entry is None:
                continue
            if entry[1] <= now:
                del data[key]
            else:
                # The key was written again since: its one heap entry moves forward.
                heapq.heappush(heap, (entry[1], key))
