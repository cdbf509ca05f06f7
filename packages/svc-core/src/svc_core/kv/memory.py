"""The in-process key-value store: the embedded profile's default, and the tests' twin.

:class:`MemoryKV` keeps its data in this process only. It is right for one process
(development, tests, a single-replica service); a second replica would not see it, so
production deployments with several processes use ``RedisKV``.
"""

from __future__ import annotations

import heapq
import re
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from svc_core.kv._scripts import EXTEND, INCR_TTL, RELEASE
from svc_core.kv.base import (
    KVHelpers,
    Script,
    ScriptArg,
    check_ttl,
    encode_value,
    ttl_ms,
)
from svc_core.kv.errors import KVError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = ["MemoryKV"]

# What Redis' string2ll accepts as an integer: no '+', spaces, leading zeros or "-0".
_INTEGER = re.compile(rb"0|-?[1-9][0-9]*")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Heap entries left behind by rewritten expiries are dropped once they outnumber the
# live ones by this much, which keeps the heap's size proportional to the data.
_COMPACT_SLACK = 1024


class _State:
    """:class:`~svc_core.kv.base.LocalState` over a :class:`MemoryKV`, at a fixed ``now``.

    Only ever used while the store's lock is held.
    """

    __slots__ = ("_kv", "now")

    def __init__(self, kv: MemoryKV, now: float) -> None:
        self._kv = kv
        self.now = now

    def _live(self, key: str) -> bool:
        # Lazy expiry: a key past its deadline is removed the moment it is looked at.
        deadline = self._kv._expires.get(key)
        if deadline is not None and deadline <= self.now:
            self.delete(key)
            return False
        return key in self._kv._values

    def get(self, key: str) -> bytes | None:
        return self._kv._values[key] if self._live(key) else None

    def set(
        self,
        key: str,
        value: bytes | str | int | float,
        *,
        ttl: float | None = None,
        keep_ttl: bool = False,
    ) -> None:
        data = encode_value(value)
        live = self._live(key)
        self._kv._values[key] = data
        if ttl is not None:
            self._set_deadline(key, self.now + ttl)
        elif not (keep_ttl and live):
            self._kv._expires.pop(key, None)

    def delete(self, key: str) -> bool:
        # A heap entry may remain; the sweep recognises it as stale and skips it.
        self._kv._expires.pop(key, None)
        return self._kv._values.pop(key, None) is not None

    def exists(self, key: str) -> bool:
        return self._live(key)

    def expire(self, key: str, ttl: float) -> bool:
        if not self._live(key):
            return False
        if ttl <= 0:
            # As PEXPIRE with a non-positive time: the key is deleted at once.
            return self.delete(key)
        self._set_deadline(key, self.now + ttl)
        return True

    def ttl(self, key: str) -> float | None:
        if not self._live(key):
            return None
        deadline = self._kv._expires.get(key)
        return None if deadline is None else deadline - self.now

    def incr(self, key: str, amount: int = 1) -> int:
        current = self.get(key)
        if current is not None and not _INTEGER.fullmatch(current):
            msg = "the value is not an integer"
            raise KVError(msg)
        value = (int(current) if current is not None else 0) + amount
        if not _INT64_MIN <= value <= _INT64_MAX:
            msg = "increment would overflow a 64-bit integer"
            raise KVError(msg)
        self.set(key, value, keep_ttl=True)
        return value

    def _set_deadline(self, key: str, deadline: float) -> None:
        self._kv._expires[key] = deadline
        heapq.heappush(self._kv._heap, (deadline, key))


def _as_reply(value: Any) -> Any:
    """Convert a local body's return value the way Redis converts a Lua reply."""
    if value is None or value is False:
        return None
    if value is True:
        return 1
    if isinstance(value, int | bytes):
        return value
    if isinstance(value, float | str):
        # Lua numbers become integer replies, truncated toward zero; strings are bytes.
        return int(value) if isinstance(value, float) else value.encode()
    if isinstance(value, list | tuple):
        out: list[Any] = []
        for item in value:
            if type(item) is int:  # the common case, without a call per element
                out.append(item)
                continue
            if item is None:
                break  # Redis reads a Lua array up to its first nil (False is kept)
            out.append(_as_reply(item))
        return out
    msg = f"a script may return None, bool, int, float, str, bytes or a list, not {value!r}"
    raise TypeError(msg)


class MemoryKV(KVHelpers):
    """A :class:`~svc_core.kv.KV` kept in this process's memory.

    Operations never await while they touch the data, so each one is atomic on the
    event loop; a lock makes them safe across threads too (a Starlette ``TestClient``
    runs the app in its own thread). The data lives in this process only.

    Expiry is lazy (a key past its deadline disappears when it is next read) plus a
    sweep on every operation that removes at most ``sweep_batch`` expired keys, so
    memory is reclaimed without a background task and no call does unbounded work.

    Args:
        namespace: Prefix applied to every key.
        clock: Seconds since the epoch; drives both expiry and :meth:`time`. Tests
            inject a settable clock to move time without sleeping.
        sweep_batch: Most expired keys removed by one operation's sweep.
    """

    def __init__(
        self,
        namespace: str = "",
        clock: Callable[[], float] = time.time,
        *,
        sweep_batch: int = 64,
    ) -> None:
        self._namespace = namespace
        self._clock = clock
        self._sweep_batch = sweep_batch
        self._values: dict[str, bytes] = {}
        self._expires: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        """``"memory"``."""
        return "memory"

    @property
    def namespace(self) -> str:
        """The prefix applied to every key."""
        return self._namespace

    @property
    def clock(self) -> Callable[[], float]:
        """The store clock (seconds since the epoch), for state kept beside the store."""
        return self._clock

    @contextmanager
    def _atomic(self) -> Iterator[_State]:
        with self._lock:
            now = self._clock()
            self._sweep(now)
            yield _State(self, now)

    def _sweep(self, now: float) -> None:
        heap = self._heap
        for _ in range(self._sweep_batch):
            if not heap or heap[0][0] > now:
                break
            deadline, key = heapq.heappop(heap)
            # Skip entries whose key was deleted or given another expiry since.
            if self._expires.get(key) == deadline:
                del self._expires[key]
                self._values.pop(key, None)
        if len(heap) > 2 * len(self._expires) + _COMPACT_SLACK:
            self._heap = [(deadline, key) for key, deadline in self._expires.items()]
            heapq.heapify(self._heap)

    async def get(self, key: str) -> bytes | None:
        """The value of ``key``, or ``None`` when absent or expired."""
        with self._atomic() as state:
            return state.get(self._namespace + key)

    async def set(
        self, key: str, value: bytes | str, *, ttl: float | None = None, nx: bool = False
    ) -> bool:
        """Store ``value`` (see :meth:`svc_core.kv.KV.set`)."""
        seconds = None if ttl is None else check_ttl(ttl)
        with self._atomic() as state:
            full = self._namespace + key
            if nx and state.exists(full):
                return False
            state.set(full, value, ttl=seconds)
            return True

    async def delete(self, *keys: str) -> int:
        """Delete ``keys``; return how many existed."""
        with self._atomic() as state:
            # exists() first: an expired key still in the dicts must not count as deleted.
            return sum(
                state.exists(full) and state.delete(full)
                for full in (self._namespace + k for k in keys)
            )

    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        with self._atomic() as state:
            return state.exists(self._namespace + key)

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Atomically add ``amount`` (see :meth:`svc_core.kv.KV.incr`)."""
        if ttl is not None:
            return int(await self.run(INCR_TTL, [key], [amount, ttl_ms(ttl)]))
        with self._atomic() as state:
            return state.incr(self._namespace + key, amount)

    async def ttl(self, key: str) -> float | None:
        """Remaining seconds before ``key`` expires, or ``None``."""
        with self._atomic() as state:
            return state.ttl(self._namespace + key)

    async def expire(self, key: str, ttl: float) -> bool:
        """Expire ``key`` in ``ttl`` seconds; ``False`` if absent."""
        seconds = check_ttl(ttl)
        with self._atomic() as state:
            return state.expire(self._namespace + key, seconds)

    async def claim(self, key: str, owner: str, lease: float) -> bool:
        """Take ``key`` for ``owner`` for ``lease`` seconds if nobody holds it."""
        return await self.set(key, owner, ttl=check_ttl(lease, "lease"), nx=True)

    async def release(self, key: str, owner: str) -> bool:
        """Delete ``key`` only if ``owner`` holds it."""
        return bool(await self.run(RELEASE, [key], [owner]))

    async def extend(self, key: str, owner: str, lease: float) -> bool:
        """Reset the expiry of ``key`` to ``lease`` seconds if ``owner`` holds it."""
        return bool(await self.run(EXTEND, [key], [owner, ttl_ms(lease, "lease")]))

    async def owner(self, key: str) -> str | None:
        """Who holds the claim on ``key``, or ``None``."""
        value = await self.get(key)
        return None if value is None else value.decode(errors="replace")

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        """Run the script's local body atomically (see :class:`svc_core.kv.Script`).

        The body runs under the store's lock: it must not call the store itself.

        Raises:
            KVError: The body raised (as a failing Lua script raises on Redis).
        """
        namespace = self._namespace
        full_keys = [namespace + k for k in keys]
        values = [a if type(a) is bytes else encode_value(a) for a in args]
        # _atomic() inlined: this runs on every rate-limited request of the embedded
        # profile, where a generator-based context manager costs a few microseconds.
        with self._lock:
            now = self._clock()
            self._sweep(now)
            state = _State(self, now)
            try:
                result = script.local(state, full_keys, values, now)
            except KVError:
                raise
            except Exception as exc:
                msg = f"script {script.name} failed"
                raise KVError(msg) from exc
        return _as_reply(result)

    async def time(self) -> float:
        """The store clock (the injected ``clock``), in seconds."""
        return self._clock()

    async def ping(self) -> bool:
        """Always ``True``: the data is in this process."""
        return True
