"""The key-value protocol every store implements, and the pieces shared by the stores.

:class:`KV` is deliberately small: strings with expiry, atomic counters, an atomic
*claim* (owner + lease, compare-and-delete release) and :class:`Script` for anything
that needs several steps to happen atomically. Rate limiting, idempotency, auth
lockout and the circuit breaker are all built from these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self, cast, runtime_checkable

from svc_core.kv.lease import Lease

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "KV",
    "LocalBody",
    "LocalState",
    "Script",
    "ScriptArg",
    "hash_tag",
]

#: What :meth:`KV.run` accepts as a script argument (Lua receives each as a string).
ScriptArg = str | int | float | bytes


@runtime_checkable
class LocalState(Protocol):
    """The memory store's data, as seen by the local body of a :class:`Script`.

    Keys are *full* keys (the namespace already applied, exactly as the Lua body sees
    them in ``KEYS``). Values are stored as bytes, like Redis strings. Every method
    works at the script's fixed ``now``, as Redis freezes time during a script.
    """

    @property
    def now(self) -> float:
        """The store clock, in seconds, fixed for the duration of the script."""
        ...

    def get(self, key: str) -> bytes | None:
        """``GET``: the value, or ``None`` when absent or expired."""
        ...

    def set(
        self,
        key: str,
        value: bytes | str | int | float,
        *,
        ttl: float | None = None,
        keep_ttl: bool = False,
    ) -> None:
        """``SET`` (``PX`` when ``ttl`` is given, ``KEEPTTL`` when ``keep_ttl``)."""
        ...

    def delete(self, key: str) -> bool:
        """``DEL``: whether the key existed."""
        ...

    def exists(self, key: str) -> bool:
        """``EXISTS``."""
        ...

    def expire(self, key: str, ttl: float) -> bool:
        """``PEXPIRE``: whether the key existed."""
        ...

    def ttl(self, key: str) -> float | None:
        """``PTTL`` in seconds; ``None`` when absent or without expiry."""
        ...

    def incr(self, key: str, amount: int = 1) -> int:
        """``INCRBY`` (keeps the expiry; a missing key counts from 0)."""
        ...


#: The in-memory twin of a Lua body: ``(state, keys, args, now) -> reply``.
LocalBody = Callable[[LocalState, list[str], list[bytes], float], Any]


@dataclass(frozen=True, slots=True)
class Script:
    """An atomic multi-step operation with a Lua body (Redis) and a Python body (memory).

    Redis runs ``lua`` through ``EVALSHA``, loading it again automatically when the
    server answers ``NOSCRIPT`` (after a restart or a failover). The memory store runs
    ``local`` under its lock, so both are atomic.

    **Both bodies must implement the same semantics.** The shared test suite (the
    ``kv`` fixture of :mod:`svc_core.testing`, parametrized ``memory`` | ``redis``)
    proves it: every package that ships a script runs that script's tests against both
    stores. Rules that keep the twins in step:

    * Keys come only from ``keys`` (``KEYS`` in Lua), already namespaced; on Redis
      Cluster all keys of one call must share a slot (see :func:`hash_tag`).
    * Arguments arrive in both bodies as the bytes Redis receives (``5`` becomes
      ``b"5"``, ``0.5`` becomes ``b"0.5"``, text is UTF-8): ``int(args[0])`` in Python
      parses what ``tonumber(ARGV[1])`` parses in Lua.
    * Time: Lua reads the server clock with ``redis.call('TIME')``; the local body uses
      ``now``. Never use the application's own clock (nodes' clocks disagree).
    * Replies follow Redis' Lua conversion, which the memory store applies to the local
      body's return value too: numbers are truncated to integers (return a string for
      a fractional value), strings become bytes, ``True`` becomes 1, ``False`` and
      ``None`` become ``None``; a list (a Lua array) ends at its first ``None`` (nil),
      while a ``False`` inside it becomes a ``None`` element.
    * Only string values exist in the memory store: no hashes, lists or sets.

    Attributes:
        lua: The Lua source.
        local: The Python body ``(state, keys, args, now) -> reply``.
        name: A label for errors and logs.
    """

    lua: str
    local: LocalBody
    name: str = "script"


def hash_tag(part: str) -> str:
    """Wrap ``part`` in a Redis Cluster hash tag: ``hash_tag("user:1")`` → ``"{user:1}"``.

    Redis Cluster hashes only the text inside the first ``{…}`` of a key, so keys that
    carry the same tag live in the same slot. A :class:`Script` that touches several
    keys must tag them alike (``f"rl:{hash_tag(tenant)}:a"`` and ``…:b``), or the
    cluster refuses it with ``CROSSSLOT``. For the same reason a store namespace should
    not contain braces: its tag would come first and pin every key to one slot.

    Raises:
        ValueError: ``part`` is empty or contains a brace.
    """
    if not part or "{" in part or "}" in part:
        msg = f"a hash tag needs a non-empty part without braces, got {part!r}"
        raise ValueError(msg)
    return "{" + part + "}"


def encode_value(value: bytes | str | int | float) -> bytes:
    """Encode a value the way Redis stores it (strings as UTF-8, numbers as text)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        # redis-py refuses booleans too; accepting them here would hide a bug.
        msg = "booleans cannot be stored; use an int or a string"
        raise TypeError(msg)
    if isinstance(value, int):
        return str(value).encode()
    return repr(value).encode()


def check_ttl(ttl: float, what: str = "ttl") -> float:
    """Return ``ttl`` if it is a finite number of seconds > 0, else raise ``ValueError``."""
    if not (math.isfinite(ttl) and ttl > 0):
        msg = f"{what} must be a finite number of seconds > 0, got {ttl!r}"
        raise ValueError(msg)
    return float(ttl)


def ttl_ms(ttl: float, what: str = "ttl") -> int:
    """Seconds to the whole milliseconds Redis takes (at least 1)."""
    return max(1, round(check_ttl(ttl, what) * 1000))


@runtime_checkable
class KV(Protocol):
    """An async key-value store: :class:`~svc_core.kv.MemoryKV` or ``RedisKV``.

    Every key is prefixed with :attr:`namespace`. Every operation is atomic. On
    Redis every call is bounded by the store timeout and raises
    :class:`~svc_core.kv.KVUnavailableError` when the server does not answer in time.
    """

    @property
    def backend(self) -> str:
        """The implementation's short name: ``"memory"`` or ``"redis"``."""
        ...

    @property
    def namespace(self) -> str:
        """The prefix applied to every key."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The value of ``key``, or ``None`` when absent or expired."""
        ...

    async def set(
        self, key: str, value: bytes | str, *, ttl: float | None = None, nx: bool = False
    ) -> bool:
        """Store ``value``; with ``nx`` only when ``key`` is absent.

        Args:
            key: The key (without namespace).
            value: Bytes, or a string stored as UTF-8.
            ttl: Seconds until the key expires; ``None`` keeps it forever (and clears a
                previous expiry, as ``SET`` does).
            nx: Write only if the key does not exist.

        Returns:
            Whether the value was written (always ``True`` without ``nx``).
        """
        ...

    async def delete(self, *keys: str) -> int:
        """Delete ``keys``; return how many existed."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists (and has not expired)."""
        ...

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Atomically add ``amount`` to the integer at ``key`` (missing = 0); return it.

        ``ttl`` is applied when the increment creates the key (fixed-window
        semantics: later increments do not push the expiry back), and also heals a
        counter found without expiry, so a counter can never live forever by accident.

        Raises:
            KVError: The stored value is not an integer.
        """
        ...

    async def ttl(self, key: str) -> float | None:
        """Remaining seconds before ``key`` expires; ``None`` if absent or without expiry."""
        ...

    async def expire(self, key: str, ttl: float) -> bool:
        """Set the expiry of ``key`` to ``ttl`` seconds from now; ``False`` if absent."""
        ...

    async def claim(self, key: str, owner: str, lease: float) -> bool:
        """Atomically take ``key`` for ``owner`` if nobody holds it, for ``lease`` seconds.

        The claim is not re-entrant: a second claim fails even for the same owner.
        """
        ...

    async def release(self, key: str, owner: str) -> bool:
        """Delete ``key`` only if ``owner`` holds it (atomic compare-and-delete)."""
        ...

    async def extend(self, key: str, owner: str, lease: float) -> bool:
        """Reset the expiry to ``lease`` seconds, only if ``owner`` still holds ``key``."""
        ...

    async def owner(self, key: str) -> str | None:
        """Who holds the claim on ``key``, or ``None``."""
        ...

    def lease(self, key: str, *, owner: str | None = None, lease: float = 30.0) -> Lease:
        """A :class:`~svc_core.kv.Lease` on ``key``, for ``async with``."""
        ...

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        """Run ``script`` atomically on ``keys`` (namespaced here) with ``args``.

        Raises:
            KVError: The script failed.
        """
        ...

    async def time(self) -> float:
        """The store's clock in seconds since the epoch (Redis ``TIME`` on Redis).

        Several application nodes with skewed clocks agree on this one.
        """
        ...

    async def ping(self) -> bool:
        """Whether the store answers; never raises for an outage (use it in probes)."""
        ...

    async def aclose(self) -> None:
        """Release the store's resources (closes a Redis client the store created)."""
        ...

    async def __aenter__(self) -> Self:
        """Return the store itself."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store (:meth:`aclose`)."""
        ...


class KVHelpers:
    """What every store implements the same way on top of the protocol's primitives."""

    def lease(self, key: str, *, owner: str | None = None, lease: float = 30.0) -> Lease:
        """A :class:`~svc_core.kv.Lease` on ``key``, for ``async with``.

        Args:
            key: The key to claim (without namespace).
            owner: The token stored as owner; a random 128-bit token by default.
            lease: Seconds the claim lives unless extended or released.
        """
        # Every concrete store inherits this helper and implements the protocol.
        return Lease(cast("KV", self), key, lease, owner=owner)

    async def aclose(self) -> None:
        """Release the store's resources."""

    async def __aenter__(self) -> Self:
        """Return the store itself."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        await self.aclose()
