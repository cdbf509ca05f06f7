"""A Redis pub/sub subscriber that can be drained synchronously, for prompt revocation.

redis-py reads pub/sub messages in a task, which runs some time after the bytes arrive.
To refuse a revoked token at the *next* request, the request path itself must be able to
consume every announcement already delivered to this process. This subscriber keeps a
plain non-blocking socket: the event loop calls :meth:`RedisSubscriber.drain` when the
socket is readable, and the auth middleware calls it too (one ``poll(2)`` with a zero
timeout when nothing is pending, under a microsecond) before trusting its local revocation set.

Redis writes a PUBLISH to every subscriber's socket before it answers the publisher, so
once a revocation call has returned, every healthy replica finds the announcement in its
socket when the next request arrives.

Supports ``redis://`` over TCP and ``unix://`` sockets, with AUTH; for TLS the caller
falls back to redis-py's reader (see :mod:`svc_auth.revocation`). It speaks RESP2.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["RedisSubscriber", "subscriber_address"]

logger = logging.getLogger("svc_auth.channel")


class _IncompleteError(Exception):
    pass


def _parse(buf: bytearray, pos: int) -> tuple[Any, int]:
    """Parse one RESP2 value at ``pos``; raise :class:`_IncompleteError` when it is not all here."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _IncompleteError
    kind, line = bytes(buf[pos : pos + 1]), bytes(buf[pos + 1 : end])
    nxt = end + 2
    if kind in (b"+", b"-"):
        return (line if kind == b"+" else ValueError(line.decode(errors="replace"))), nxt
    if kind == b":":
        return int(line), nxt
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, nxt
        if len(buf) < nxt + size + 2:
            raise _IncompleteError
        return bytes(buf[nxt : nxt + size]), nxt + size + 2
    if kind in (b"*", b">"):
        count = int(line)
        items = []
        for _ in range(max(count, 0)):
            item, nxt = _parse(buf, nxt)
            items.append(item)
        return items, nxt
    msg = f"unexpected RESP type {kind!r}"
    raise ValueError(msg)


def _command(*parts: str | bytes) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        raw = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def subscriber_address(client: Any) -> dict[str, Any] | None:
    """Host/port/path and credentials of a ``redis.asyncio.Redis`` client's pool.

    Returns ``None`` when the connection uses TLS or is otherwise unsupported.
    """
    pool = getattr(client, "connection_pool", None)
    kwargs: dict[str, Any] = dict(getattr(pool, "connection_kwargs", {}) or {})
    cls_name = type(pool).__name__ if pool is not None else ""
    conn_cls = getattr(pool, "connection_class", None)
    if conn_cls is not None and "SSL" in conn_cls.__name__:
        return None
    if kwargs.get("path"):
        return {"path": kwargs["path"], **_creds(kwargs)}
    if "host" in kwargs:
        return {"host": kwargs["host"], "port": int(kwargs.get("port") or 6379), **_creds(kwargs)}
    logger.debug("unsupported Redis pool %s for the revocation channel", cls_name)
    return None


def _creds(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"username": kwargs.get("username"), "password": kwargs.get("password")}


class RedisSubscriber:
    """Subscribes to one channel and hands each message's data to ``on_message``.

    Args:
        address: From :func:`subscriber_address`.
        channel: The channel name (already namespaced).
        on_message: Called with each message's payload.
        on_subscribed: Called each time the subscription is (re)confirmed.
        on_lost: Called each time the connection is lost.
        ping_interval: Seconds between liveness pings.
    """

    def __init__(
        self,
        address: dict[str, Any],
        channel: str,
        *,
        on_message: Callable[[bytes], None],
        on_subscribed: Callable[[], None],
        on_lost: Callable[[], None],
        ping_interval: float = 5.0,
    ) -> None:
        self._address = address
        self._channel = channel.encode()
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._on_lost = on_lost
        self._ping_interval = ping_interval
        self._sock: socket.socket | None = None
        self._poller: Any = None
        self._buf = bytearray()
        self._task: asyncio.Task[None] | None = None
        self._lost: asyncio.Event | None = None
        self._last_pong = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def drain(self) -> None:
        """Consume every byte already delivered (non-blocking); safe to call anytime."""
        sock = self._sock
        if sock is None:
            return
        poller = self._poller
        if poller is not None and not poller.poll(0):
            return  # nothing pending: one cheap poll(2), no exception
        while True:
            try:
                chunk = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop()
                return
            if not chunk:
                self._drop()
                return
            self._buf += chunk
            if len(chunk) < 65536:
                break
        self._consume()

    def _consume(self) -> None:
        pos = 0
        buf = self._buf
        while pos < len(buf):
            try:
                value, pos_next = _parse(buf, pos)
            except _IncompleteError:
                break
            pos = pos_next
            self._handle(value)
        if pos:
            del buf[:pos]

    def _handle(self, value: Any) -> None:
        if isinstance(value, list) and value:
            kind = value[0]
            if kind == b"message" and len(value) >= 3:
                self._on_message(value[2] or b"")
            elif kind == b"subscribe":
                self._on_subscribed()
            elif kind == b"pong":
                self._last_pong = time.monotonic()
        elif isinstance(value, ValueError):
            logger.warning("revocation channel error: %s", value)
            self._drop()

    def _current(self) -> socket.socket | None:
        return self._sock

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        self._poller = None
        if sock is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(sock.fileno())
            sock.close()
            self._buf.clear()
            self._on_lost()
        if self._lost is not None:
            self._lost.set()

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        if "path" in self._address:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: Any = self._address["path"]
        else:
            infos = await loop.getaddrinfo(
                self._address["host"], self._address["port"], type=socket.SOCK_STREAM
            )
            family, _, _, _, target = infos[0]
            sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)  # noqa: FBT003 - the socket API
        try:
            async with asyncio.timeout(5):
                await loop.sock_connect(sock, target)
                password = self._address.get("password")
                if password:
                    user = self._address.get("username")
                    auth = _command("AUTH", user, password) if user else _command("AUTH", password)
                    await loop.sock_sendall(sock, auth)
                    reply = await loop.sock_recv(sock, 4096)
                    if not reply.startswith(b"+OK"):
                        msg = "AUTH refused"
                        raise OSError(msg)
                await loop.sock_sendall(sock, _command("SUBSCRIBE", self._channel))
        except BaseException:
            sock.close()
            raise
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
            self._poller = poller
        self._sock = sock
        self._last_pong = time.monotonic()
        loop.add_reader(sock.fileno(), self.drain)

    async def run(self) -> None:
        """Connect, subscribe and keep the subscription alive until cancelled."""
        while True:
            self._lost = asyncio.Event()
            try:
                await self._connect()
                while self._sock is not None:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._ping_interval):
                            await self._lost.wait()
                    sock = self._current()
                    if sock is None:
                        break
                    if time.monotonic() - self._last_pong > 3 * self._ping_interval:
                        logger.warning("revocation channel silent; reconnecting")
                        self._drop()
                        break
                    await asyncio.get_running_loop().sock_sendall(sock, _command("PING"))
            except asyncio.CancelledError:
                self._drop()
                raise
            except Exception:  # noqa: BLE001 - any failure: reconnect after a pause
                logger.warning("revocation channel unavailable; retrying")
                self._drop()
            await asyncio.sleep(0.5)
