"""One multiplexed Redis connection for the hot path: scripts and reads, pipelined.

redis-py's asyncio client spends ~180 µs of CPU per command on the project's 2-core
machine (connection checkout, retry wrapper, response callbacks, its own reader task
plumbing), and coredis more; a round trip over a plain asyncio protocol costs ~30 µs. For
the calls made on every request — the rate limiter's, the idempotency engine's and the
revocation check's — :class:`RespChannel` keeps one connection per store and process:

* every call is written at once (the writes of one event-loop iteration go out as one
  ``write``) and answered in order (RESP replies are FIFO per connection), so concurrent
  callers share round trips without a pool, a lock or a task per call;
* replies are parsed by ``hiredis`` (the Redis project's C parser, already what redis-py
  uses when it is installed) and commands packed by ``hiredis.pack_command``;
* a call that outlives ``timeout`` fails with :class:`~svc_core.kv.KVUnavailableError`
  and the connection is dropped (a late reply can never be taken for another call's);
  the next call reconnects (``AUTH`` and ``SELECT`` from the URL).

It is not a general client: no pub/sub, no blocking commands, no Cluster redirections.
:class:`~svc_core.kv.RedisKV` uses it for ``redis://`` and ``rediss://`` URLs and keeps
redis-py for the rest.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis

from svc_core.kv.errors import KVUnavailableError

__all__ = ["ReplyError", "RespChannel", "supports"]

#: An error reply of the server (``-ERR …``), returned by :meth:`RespChannel.call`'s
#: future as its result so that the caller decides what it means.
ReplyError = hiredis.ReplyError


#: URL query options the channel understands; a URL with any other (TLS certificates,
#: socket options …) is left to redis-py.
_OPTIONS = frozenset({"client_name", "db"})


def supports(url: str) -> bool:
    """Whether :class:`RespChannel` can serve ``url``: ``redis://`` or ``rediss://``
    with no query options beyond ``db`` and ``client_name``."""
    parts = urlsplit(url)
    return parts.scheme in ("redis", "rediss") and set(parse_qs(parts.query)) <= _OPTIONS


def _consume(future: asyncio.Future[Any]) -> None:
    # Mark a failure as retrieved when every caller gave up waiting for it.
    if not future.cancelled():
        future.exception()


class _Protocol(asyncio.Protocol):
    __slots__ = ("_channel", "transport")

    def __init__(self, channel: RespChannel) -> None:
        self._channel = channel
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._channel._received(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._channel._lost(self, exc)


class RespChannel:
    """A pipelined Redis connection (see the module docstring).

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]`` or ``rediss://…`` (TLS with
            the system's trust store).
        timeout: Seconds a call may take, connecting included.
    """

    def __init__(self, url: str, timeout: float) -> None:
        if not supports(url):
            msg = "RespChannel serves redis:// and rediss:// URLs with db and client_name only"
            raise ValueError(msg)
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 6379
        self._ssl = ssl.create_default_context() if parts.scheme == "rediss" else None
        self._hello: list[tuple[Any, ...]] = []
        if parts.password is not None:
            user = unquote(parts.username) if parts.username else None
            secret = unquote(parts.password)
            self._hello.append(("AUTH", user, secret) if user else ("AUTH", secret))
        db = query.get("db") or parts.path.strip("/")
        if db and db != "0":
            self._hello.append(("SELECT", int(db)))
        if query.get("client_name"):
            self._hello.append(("CLIENT", "SETNAME", query["client_name"]))
        self._timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._reader = hiredis.Reader()
        # (future, deadline) per call on the wire, in the order the replies will come.
        self._waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._closed = False

    # ------------------------------------------------------------------ calls

    async def call(self, *args: Any) -> Any:
        """Send one command and return its reply (a :data:`ReplyError` is returned,
        not raised).

        Raises:
            KVUnavailableError: No connection, or no reply within ``timeout``.
        """
        protocol = self._protocol
        if protocol is None:
            protocol = await self._connect()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((future, loop.time() + self._timeout))
        self._out.append(hiredis.pack_command(args))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._timeout, self._check_deadlines)
        return await future

    async def aclose(self) -> None:
        """Close the connection; calls still waiting fail."""
        self._closed = True
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
        self._fail_all(KVUnavailableError("the key-value store was closed"))

    # ------------------------------------------------------------------ internals

    def _flush(self) -> None:
        self._flush_scheduled = False
        out, self._out = self._out, []
        protocol = self._protocol
        if not out:
            return
        if protocol is None or protocol.transport is None or protocol.transport.is_closing():
            return  # the waiters were failed when the connection went
        protocol.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _received(self, protocol: _Protocol, data: bytes) -> None:
        if protocol is not self._protocol:
            return
        reader = self._reader
        reader.feed(data)
        waiting = self._waiting
        while True:
            reply = reader.gets()
            if reply is False:
                return
            if not waiting:  # a reply nobody asked for: the stream cannot be trusted
                self._drop("the key-value store sent an unexpected reply")
                return
            future, _ = waiting.popleft()
            if not future.done():
                future.set_result(reply)

    def _lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is not self._protocol:
            return
        self._protocol = None
        detail = f": {exc}" if exc else ""
        self._fail_all(KVUnavailableError(f"the key-value store connection was lost{detail}"))

    def _check_deadlines(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = self._waiting[0][1]
        if deadline <= now:
            # The oldest call is late: the server or the link is stuck. Later replies
            # would come behind it, so the whole connection goes.
            self._drop(f"the key-value store did not answer within {self._timeout:g} s")
            return
        self._watchdog = loop.call_later(deadline - now, self._check_deadlines)

    def _drop(self, why: str) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abort()
        self._fail_all(KVUnavailableError(why))

    def _fail_all(self, error: KVUnavailableError) -> None:
        waiting, self._waiting = self._waiting, collections.deque()
        self._out = []
        self._reader = hiredis.Reader()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        for future, _ in waiting:
            if not future.done():
                future.set_exception(KVUnavailableError(str(error)))

    async def _connect(self) -> _Protocol:
        if self._closed:
            msg = "the key-value store was closed"
            raise KVUnavailableError(msg)
        if self._connecting is None or self._connecting.done():
            loop = asyncio.get_running_loop()
            self._connecting = loop.create_future()
            self._connecting.add_done_callback(_consume)
            task = loop.create_task(self._open())
            task.add_done_callback(self._opened)
        try:
            return await asyncio.wait_for(asyncio.shield(self._connecting), self._timeout)
        except TimeoutError as exc:
            msg = f"could not connect to the key-value store within {self._timeout:g} s"
            raise KVUnavailableError(msg) from exc

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                _, protocol = await loop.create_connection(
                    lambda: _Protocol(self), self._host, self._port, ssl=self._ssl
                )
                self._reader = hiredis.Reader()
                self._protocol = protocol
                for command in self._hello:
                    reply = await self.call(*(a for a in command if a is not None))
                    if isinstance(reply, ReplyError):
                        self._drop(f"the key-value store refused {command[0]}")
                        msg = f"the key-value store refused {command[0]}: {reply}"
                        raise KVUnavailableError(msg)
        except (OSError, TimeoutError) as exc:
            msg = f"cannot connect to the key-value store at {self._host}:{self._port}"
            raise KVUnavailableError(msg) from exc
        return protocol

    def _opened(self, task: asyncio.Task[_Protocol]) -> None:
        connecting = self._connecting
        if connecting is None or connecting.done():
            if not task.cancelled():
                task.exception()  # retrieved: nobody waits for it any more
            return
        if task.cancelled():
            connecting.set_exception(KVUnavailableError("connecting was cancelled"))
        elif task.exception() is not None:
            connecting.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            connecting.set_result(task.result())
