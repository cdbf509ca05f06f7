"""The Redis key-value store (``redis.asyncio``), for several processes and machines.

Needs the ``redis`` extra: ``pip install "svc-core[redis]"``.

Every call is bounded by ``timeout`` (250 ms by default, STANDARDS D7) from the moment
it asks the pool for a connection to the moment the reply is parsed; an outage,
a timeout or a server that is loading, read-only or out of memory raises
:class:`~svc_core.kv.KVUnavailableError`, so callers can fail open or closed quickly.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from svc_core.errors import MissingDependencyError
from svc_core.kv._scripts import EXTEND, INCR_TTL, RELEASE
from svc_core.kv.base import KVHelpers, Script, ScriptArg, check_ttl, encode_value, ttl_ms
from svc_core.kv.errors import KVError, KVUnavailableError

try:
    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from svc_core.kv._resp import ReplyError, RespChannel, supports
except ImportError as exc:  # pragma: no cover - exercised by a test that hides redis
    raise MissingDependencyError("redis", package="svc-core", extra="redis") from exc

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from redis.commands.core import AsyncScript

__all__ = ["RedisKV"]

_T = TypeVar("_T")

# Failures that mean "the store is not serving right now", as opposed to a command the
# server rejected (a bug): connection, timeout, loading, failover, cluster and memory.
_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    redis_errors.OutOfMemoryError,
    redis_errors.TryAgainError,
    redis_errors.ClusterDownError,
    OSError,
)


class RedisKV(KVHelpers):
    """A :class:`~svc_core.kv.KV` on Redis (any version ≥ 6.2; Cluster-safe key naming).

    Args:
        client_or_url: A ``redis://`` / ``rediss://`` / ``unix://`` URL, or a
            ``redis.asyncio.Redis`` client. A client passed in is shared: :meth:`aclose`
            leaves it open. A client created from a URL has a bounded, blocking
            connection pool, no retry back-off, and socket timeouts equal to ``timeout``.
        namespace: Prefix applied to every key (e.g. ``settings.redis_prefix``).
        timeout: Seconds any one call may take, connection checkout included.
        max_connections: Size of the pool created from a URL; callers beyond it wait
            (within ``timeout``) for a free connection instead of opening more.
        auto_pipeline: Send the :meth:`run`, :meth:`get` and :meth:`exists` calls of one
            event-loop iteration together (one write, replies in order). For a
            ``redis://`` or ``rediss://`` URL they travel on one multiplexed connection
            of this store (:mod:`svc_core.kv._resp`: hiredis' parser, no pool, a sixth of
            redis-py's client CPU per call); for a client passed in, as one redis-py
            pipeline per iteration. ``False`` sends each call on its own through
            redis-py.

    Keys are used as given after the namespace. On Redis Cluster a :class:`Script` that
    touches several keys needs them in one slot: build them with
    :func:`~svc_core.kv.hash_tag`.
    """

    def __init__(
        self,
        client_or_url: aioredis.Redis | str,
        namespace: str = "",
        *,
        timeout: float = 0.25,
        max_connections: int = 64,
        auto_pipeline: bool = True,
    ) -> None:
        self._namespace = namespace
        self._timeout = check_ttl(timeout, "timeout")
        if isinstance(client_or_url, str):
            pool = aioredis.BlockingConnectionPool.from_url(
                client_or_url,
                max_connections=max_connections,
                timeout=self._timeout,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                # One immediate retry heals a pooled connection the server dropped
                # (restart, idle timeout); redis-py's default of 10 retries with
                # back-off would outlast any deadline we promise.
                retry=Retry(NoBackoff(), 1),
            )
            self._client = aioredis.Redis.from_pool(pool)
            self._owns_client = True
        else:
            self._client = client_or_url
            self._owns_client = False
        self._scripts: dict[str, AsyncScript] = {}
        self._shas: dict[str, str] = {}
        self._channel: RespChannel | None = None
        if auto_pipeline and isinstance(client_or_url, str) and supports(client_or_url):
            self._channel = RespChannel(client_or_url, self._timeout)
        self._batcher = (
            _ScriptBatcher(self._client) if auto_pipeline and self._channel is None else None
        )
        self._closed = False

    @property
    def backend(self) -> str:
        """``"redis"``."""
        return "redis"

    @property
    def namespace(self) -> str:
        """The prefix applied to every key."""
        return self._namespace

    @property
    def client(self) -> aioredis.Redis:
        """The underlying ``redis.asyncio.Redis`` client (keys are *not* namespaced)."""
        return self._client

    @property
    def timeout(self) -> float:
        """Seconds any one call may take."""
        return self._timeout

    async def _call(self, op: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run one Redis call within the deadline, translating its failures."""
        try:
            async with asyncio.timeout(self._timeout):
                return await call()
        except TimeoutError as exc:
            msg = f"the key-value store did not answer {op} within {self._timeout:g} s"
            raise KVUnavailableError(msg) from exc
        except _UNAVAILABLE as exc:
            msg = f"the key-value store is unavailable ({op})"
            raise KVUnavailableError(msg) from exc
        except redis_errors.RedisError as exc:
            msg = f"the key-value store rejected {op}"
            raise KVError(msg) from exc

    async def _channel_call(self, op: str, channel: RespChannel, *args: Any) -> Any:
        reply = await channel.call(*args)
        if isinstance(reply, ReplyError):
            raise _reply_error(op, reply)
        return reply

    async def get(self, key: str) -> bytes | None:
        """The value of ``key``, or ``None`` when absent or expired."""
        full = self._namespace + key
        if self._channel is not None:
            return await self._channel_call("GET", self._channel, "GET", full)  # type: ignore[no-any-return]
        return _as_bytes(await self._call("GET", lambda: self._client.get(full)))

    async def set(
        self, key: str, value: bytes | str, *, ttl: float | None = None, nx: bool = False
    ) -> bool:
        """Store ``value`` (see :meth:`svc_core.kv.KV.set`)."""
        full = self._namespace + key
        px = None if ttl is None else ttl_ms(ttl)
        written = await self._call("SET", lambda: self._client.set(full, value, px=px, nx=nx))
        return bool(written)

    async def delete(self, *keys: str) -> int:
        """Delete ``keys``; return how many existed."""
        if not keys:
            return 0  # DEL without a key is a syntax error on the server
        full = [self._namespace + k for k in keys]
        return await self._call("DEL", lambda: self._client.delete(*full))

    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        full = self._namespace + key
        if self._channel is not None:
            return bool(await self._channel_call("EXISTS", self._channel, "EXISTS", full))
        return bool(await self._call("EXISTS", lambda: self._client.exists(full)))

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Atomically add ``amount`` (see :meth:`svc_core.kv.KV.incr`)."""
        if ttl is not None:
            return int(await self.run(INCR_TTL, [key], [amount, ttl_ms(ttl)]))
        full = self._namespace + key
        return await self._call("INCRBY", lambda: self._client.incrby(full, amount))

    async def ttl(self, key: str) -> float | None:
        """Remaining seconds before ``key`` expires, or ``None``."""
        full = self._namespace + key
        ms = await self._call("PTTL", lambda: self._client.pttl(full))
        # PTTL answers -2 for a missing key and -1 for a key without expiry.
        return None if ms < 0 else ms / 1000

    async def expire(self, key: str, ttl: float) -> bool:
        """Expire ``key`` in ``ttl`` seconds; ``False`` if absent."""
        full = self._namespace + key
        ms = ttl_ms(ttl)
        return bool(await self._call("PEXPIRE", lambda: self._client.pexpire(full, ms)))

    async def claim(self, key: str, owner: str, lease: float) -> bool:
        """Take ``key`` for ``owner`` for ``lease`` seconds if nobody holds it (SET NX PX)."""
        check_ttl(lease, "lease")
        return await self.set(key, owner, ttl=lease, nx=True)

    async def release(self, key: str, owner: str) -> bool:
        """Delete ``key`` only if ``owner`` holds it (a Lua compare-and-delete)."""
        return bool(await self.run(RELEASE, [key], [owner]))

    async def extend(self, key: str, owner: str, lease: float) -> bool:
        """Reset the expiry of ``key`` to ``lease`` seconds if ``owner`` holds it."""
        return bool(await self.run(EXTEND, [key], [owner, ttl_ms(lease, "lease")]))

    async def owner(self, key: str) -> str | None:
        """Who holds the claim on ``key``, or ``None``."""
        value = await self.get(key)
        return None if value is None else value.decode(errors="replace")

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        """Run the script's Lua body with ``EVALSHA`` (loading it on ``NOSCRIPT``).

        With ``auto_pipeline`` (the default) the calls made in one event-loop iteration
        travel together as one pipeline: one connection checkout, one write and one read
        for all of them. Each call keeps its own reply, error and ``timeout``.

        Raises:
            KVError: The script failed on the server.
            KVUnavailableError: The server did not answer in time.
        """
        full = [self._namespace + k for k in keys]
        # Encoded here, as the memory store does, so both refuse the same arguments.
        values = [encode_value(a) for a in args]
        channel = self._channel
        if channel is not None:
            sha = self._shas.get(script.lua)
            if sha is None:
                sha = self._shas[script.lua] = script_sha(script.lua)
            reply = await channel.call("EVALSHA", sha, len(full), *full, *values)
            if isinstance(reply, ReplyError) and str(reply).startswith("NOSCRIPT"):
                # A restarted or failed-over server: load the script, send the call again.
                await self._channel_call("SCRIPT LOAD", channel, "SCRIPT", "LOAD", script.lua)
                reply = await channel.call("EVALSHA", sha, len(full), *full, *values)
            if isinstance(reply, ReplyError):
                raise _reply_error(f"script {script.name}", reply)
            return reply
        batcher = self._batcher
        if batcher is not None:
            sha = self._shas.get(script.lua)
            if sha is None:
                sha = self._shas[script.lua] = script_sha(script.lua)
            argv = (sha, len(full), *full, *values)
            return await self._call(script.name, lambda: batcher.submit(script.lua, argv))
        registered = self._scripts.get(script.lua)
        if registered is None:
            registered = self._scripts[script.lua] = self._client.register_script(script.lua)
        return await self._call(script.name, lambda: registered(keys=full, args=values))

    async def time(self) -> float:
        """The server's clock (``TIME``), in seconds since the epoch."""
        seconds, micros = await self._call("TIME", self._client.time)
        return seconds + micros / 1_000_000

    async def ping(self) -> bool:
        """Whether the server answers ``PING`` within the timeout; never raises."""
        try:
            return bool(await self._call("PING", self._client.ping))
        except KVError:
            return False

    async def aclose(self) -> None:
        """Close the client and its pool if this store created them."""
        if self._channel is not None:
            await self._channel.aclose()
        if self._batcher is not None:
            await self._batcher.aclose()
        if self._owns_client and not self._closed:
            self._closed = True
            await self._client.aclose()


# Error replies that mean "not serving right now" rather than "this command is wrong".
_UNAVAILABLE_REPLIES = (
    "LOADING",
    "READONLY",
    "OOM",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "BUSY",
)


def _reply_error(op: str, reply: Exception) -> KVError:
    if str(reply).startswith(_UNAVAILABLE_REPLIES):
        return KVUnavailableError(f"the key-value store is unavailable ({op}: {reply})")
    return KVError(f"the key-value store rejected {op}: {reply}")


def script_sha(lua: str) -> str:
    """The SHA-1 by which Redis knows a script (``SCRIPT LOAD`` answers the same)."""
    return hashlib.sha1(lua.encode(), usedforsecurity=False).hexdigest()


#: One queued call: the Lua body (to load on NOSCRIPT), the EVALSHA argv, its future.
_Pending: TypeAlias = tuple[str, tuple[Any, ...], asyncio.Future[Any]]

#: Commands per pipeline; a larger backlog goes out as several pipelines at once.
MAX_BATCH = 256


class _ScriptBatcher:
    """Coalesces the ``EVALSHA`` calls of one event-loop iteration into one pipeline.

    ``submit`` queues a call and returns its future; the first call of an iteration
    schedules ``_flush`` with ``call_soon``, which runs after every callback already
    ready, so all the requests the loop is handling in this iteration share the round
    trip. Replies and errors go to each call's own future; a call whose caller gave up
    (timeout, cancellation) is skipped or its reply dropped. ``NOSCRIPT`` (a restarted
    or failed-over server) loads the scripts concerned and re-sends only those calls.

    redis-py's own pipeline would run ``SCRIPT EXISTS`` before every batch that holds a
    registered script; raw ``EVALSHA`` with our own ``NOSCRIPT`` handling avoids that
    extra round trip.
    """

    __slots__ = ("_client", "_pending", "_scheduled", "_tasks")

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._pending: list[_Pending] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, lua: str, argv: tuple[Any, ...]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((lua, argv, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush, loop)
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), MAX_BATCH):
            task = loop.create_task(self._send(pending[start : start + MAX_BATCH]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _execute(self, batch: list[_Pending]) -> list[Any]:
        if len(batch) == 1:
            try:
                return [await self._client.evalsha(*batch[0][1])]
            except redis_errors.NoScriptError as exc:
                return [exc]
        pipe = self._client.pipeline(transaction=False)
        for _, argv, _ in batch:
            pipe.execute_command("EVALSHA", *argv)
        return await pipe.execute(raise_on_error=False)

    async def _send(self, batch: list[_Pending]) -> None:
        live = [item for item in batch if not item[2].done()]
        if not live:
            return
        try:
            replies = await self._execute(live)
            missing = [
                i for i, r in enumerate(replies) if isinstance(r, redis_errors.NoScriptError)
            ]
            if missing:
                for lua in {live[i][0] for i in missing}:
                    await self._client.script_load(lua)
                again = await self._execute([live[i] for i in missing])
                for i, reply in zip(missing, again, strict=True):
                    replies[i] = reply
        except BaseException as exc:
            for _, _, future in live:
                if not future.done():
                    future.set_exception(_copy_error(exc))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), reply in zip(live, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def aclose(self) -> None:
        """Fail what is queued and wait for the batches already on the wire."""
        pending, self._pending = self._pending, []
        for _, _, future in pending:
            if not future.done():
                future.set_exception(redis_errors.ConnectionError("the store was closed"))
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _copy_error(exc: BaseException) -> BaseException:
    """A fresh exception per waiting call, so tracebacks do not pile up on one object."""
    if isinstance(exc, asyncio.CancelledError):
        return redis_errors.ConnectionError("the pipeline was cancelled")
    if isinstance(exc, redis_errors.RedisError | OSError):
        copy = type(exc)(*exc.args)
        copy.__cause__ = exc
        return copy
    return exc


def _as_bytes(value: bytes | str | None) -> bytes | None:
    # A client passed in may decode responses; the protocol promises bytes either way.
    return value.encode() if isinstance(value, str) else value
