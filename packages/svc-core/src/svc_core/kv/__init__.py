"""A small async key-value protocol, in memory or on Redis.

Rate limiting, idempotency, auth lockout and revocation and the circuit breaker all
stand on :class:`KV`: strings with expiry, atomic counters, an atomic *claim* with an
owner and a lease, and :class:`Script` for atomic multi-step logic.

Usage::

    from svc_core.kv import hash_tag, kv_from_settings
    from svc_core.settings import SvcSettings

    kv = kv_from_settings(SvcSettings())        # RedisKV if SVC_REDIS_URL, else MemoryKV
    hits = await kv.incr(f"rl:{hash_tag(tenant)}:login", ttl=60)   # fixed window
    await kv.set("flag", "on", ttl=30, nx=True)
    async with kv.lease("job:nightly", lease=30) as lease:      # 409 if held elsewhere
        ...                                                      # released even on error
    await kv.aclose()

Backends: :class:`MemoryKV` (this process only; the embedded profile and tests) and
``RedisKV`` (``pip install "svc-core[redis]"``; several processes and machines; every
call bounded by a 250 ms timeout, raising :class:`KVUnavailableError`). Importing this
package does no I/O and does not import ``redis``: ``RedisKV`` is loaded on first use.

Tests get both through the ``kv`` fixture of :mod:`svc_core.testing`
(``memory`` | ``redis``), which is also how a package proves that the Lua and Python
bodies of its scripts agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from svc_core.kv.base import KV, LocalBody, LocalState, Script, ScriptArg, hash_tag
from svc_core.kv.errors import KVError, KVUnavailableError, LeaseUnavailableError
from svc_core.kv.lease import Lease, new_owner
from svc_core.kv.memory import MemoryKV

if TYPE_CHECKING:
    from svc_core.kv.redis import RedisKV
    from svc_core.settings import SvcSettings

__all__ = [
    "KV",
    "KVError",
    "KVUnavailableError",
    "Lease",
    "LeaseUnavailableError",
    "LocalBody",
    "LocalState",
    "MemoryKV",
    "RedisKV",
    "Script",
    "ScriptArg",
    "hash_tag",
    "kv_from_settings",
    "new_owner",
]


def kv_from_settings(settings: SvcSettings | None = None, *, timeout: float | None = None) -> KV:
    """The store the settings select: Redis when ``SVC_REDIS_URL`` is set, else memory.

    Args:
        settings: The service settings; read from the environment when omitted.
        timeout: Seconds any one Redis call may take; ``settings.redis_timeout``
            (``SVC_REDIS_TIMEOUT``, 0.25 by default) when omitted.

    Returns:
        A ``RedisKV`` on ``settings.redis_url`` with ``settings.redis_prefix`` as its
        namespace, or a :class:`MemoryKV` with the same namespace. Nothing is connected
        yet: the first call opens the connection.

    Raises:
        MissingDependencyError: Redis is configured but the ``redis`` extra is missing.
    """
    if settings is None:
        from svc_core.settings import SvcSettings

        settings = SvcSettings()
    if settings.redis_url:
        from svc_core.kv.redis import RedisKV

        return RedisKV(
            settings.redis_url,
            settings.redis_prefix,
            timeout=settings.redis_timeout if timeout is None else timeout,
        )
    return MemoryKV(settings.redis_prefix)


def __getattr__(name: str) -> Any:
    # RedisKV imports redis; load it only when asked for, so the embedded profile runs
    # (and imports fast) without the extra installed.
    if name == "RedisKV":
        from svc_core.kv.redis import RedisKV

        return RedisKV
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
