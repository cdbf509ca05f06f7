"""Request body limits: size (413), read time (408) and strict JSON (400).

:class:`BodyLimitMiddleware` answers these itself with an ``application/problem+json``
response; the application never sees an over-limit or stalled body:

* **413 by declaration** — a ``Content-Length`` above the limit is refused before a byte of
  the body is read, without calling the application.
* **413 while streaming** — a chunked (or HTTP/2) body is counted as the application reads
  it; the read that crosses the limit fails.
* **408** — the whole body must arrive within ``body_timeout`` seconds. The clock starts
  at the application's *first* ``receive()`` call (so time the application spends before
  reading, e.g. authenticating, is not charged to the client) and covers every later read
  until the last chunk. Requests without a body are not timed.
* **400 strict JSON** (``strict_json=True``) — for a JSON body (``application/json`` or
  ``application/*+json``) the last read also fails when the body is not UTF-8 or holds the
  ``NaN``/``Infinity`` constants, which RFC 8259 does not allow but Python's ``json``
  (hence FastAPI) would accept and hand to the handler as non-finite floats. Syntax errors
  are left to the framework (FastAPI answers them with the same ``malformed-json`` 400).

How a failure travels: the wrapped ``receive`` raises the failure (an :class:`SvcError`
subclass below), the application answers however it likes (FastAPI turns it into a 400),
this middleware discards that answer and sends its own problem. 413 and 408 carry
``Connection: close`` because the rest of the body is still on the wire. If the application
had already started its response when the limit tripped, no problem can be sent: the
failure is raised to the server, which aborts the connection (a truncated response must
never look complete).

Per-path limits (uploads) use ``route_limits``, a mapping of path prefix to bytes; the
longest matching prefix wins.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, ClassVar, Final

from svc_core.errors import BadRequestError, ConfigurationError, SvcError
from svc_core.http._asgi import CONNECTION_CLOSE, send_problem

if TYPE_CHECKING:
    from collections.abc import Awaitable, Mapping

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "BodyLimitMiddleware",
    "BodyTimeoutError",
    "ContentTooLargeError",
    "MalformedJSONError",
]

DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024

# Without Content-Length or Transfer-Encoding an HTTP/1.x request has no body (RFC 9112
# §6.3); HTTP/2 and /3 frame bodies themselves, so there every request is watched.
_HTTP1: Final = frozenset({"1.0", "1.1"})


class ContentTooLargeError(SvcError):
    """The request body is larger than the limit (413)."""

    status_code: ClassVar[int] = 413
    type_slug: ClassVar[str] = "content-too-large"
    title: ClassVar[str] = "Content Too Large"


class BodyTimeoutError(SvcError):
    """The request body did not arrive in time (408)."""

    status_code: ClassVar[int] = 408
    type_slug: ClassVar[str] = "request-timeout"
    title: ClassVar[str] = "Request Timeout"


class MalformedJSONError(BadRequestError):
    """A JSON request body is not valid JSON (400)."""

    type_slug: ClassVar[str] = "malformed-json"
    title: ClassVar[str] = "Malformed JSON"


class _NonFiniteError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFiniteError(name)


def _json_problem(body: bytes) -> str | None:
    """Why ``body`` is not strict JSON, or ``None`` (syntax errors are not judged here)."""
    # RFC 8259 §8.1: JSON between systems is UTF-8. A NUL byte can only come from
    # UTF-16/32, which Python's json would otherwise decode silently.
    if not body.isascii() or b"\x00" in body:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return "The request body is not valid UTF-8."
        if b"\x00" in body:
            return "The request body is not valid UTF-8 JSON."
    # Cheap pre-check: only a body mentioning the constants is parsed here.
    if b"NaN" in body or b"Infinity" in body:
        try:
            json.loads(body, parse_constant=_reject_constant)
        except _NonFiniteError:
            return "NaN and Infinity are not valid JSON numbers."
        except ValueError:
            return None
    return None


def _is_json(content_type: bytes | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


async def _discarded() -> None:
    pass


class _BodyGuard:
    """Per-request state: wraps ``receive`` (counting, timing) and ``send`` (discarding)."""

    __slots__ = (
        "_receive",
        "_send",
        "chunks",
        "deadline",
        "done",
        "failure",
        "limit",
        "received",
        "started",
        "timeout",
    )

    def __init__(
        self, receive: Receive, send: Send, limit: int, timeout: float, *, json_body: bool
    ) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.timeout = timeout
        self.received = 0
        self.deadline: float | None = None
        self.done = False
        self.started = False
        self.failure: SvcError | None = None
        self.chunks: list[bytes] | None = [] if json_body else None

    def _fail(self, failure: SvcError) -> SvcError:
        self.failure = failure
        return failure

    async def receive(self) -> Message:
        if self.failure is not None:
            raise self.failure
        if self.done:  # body complete: e.g. waiting for http.disconnect, not timed
            return await self._receive()
        if self.deadline is None:
            self.deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            detail = f"The request body did not arrive within {self.timeout:g} seconds."
            raise self._fail(BodyTimeoutError(detail)) from None
        if message["type"] != "http.request":  # http.disconnect: let the app see it
            self.done = True
            return message
        chunk: bytes = message.get("body", b"")
        self.received += len(chunk)
        if self.received > self.limit:
            detail = f"The request body is larger than {self.limit} bytes."
            raise self._fail(ContentTooLargeError(detail))
        if self.chunks is not None and chunk:
            self.chunks.append(chunk)
        if not message.get("more_body", False):
            self.done = True
            if self.chunks:
                data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
                self.chunks = None
                problem = _json_problem(data)
                if problem is not None:
                    raise self._fail(MalformedJSONError(problem))
        return message

    def send(self, message: Message) -> Awaitable[None]:
        if self.failure is not None:
            return _discarded()  # the app's answer to our failure is replaced by the problem
        if message["type"] == "http.response.start":
            self.started = True
        return self._send(message)


class BodyLimitMiddleware:
    """Limit the size and read time of request bodies; see the module docstring.

    Args:
        app: The ASGI application to wrap.
        max_body_bytes: Largest body accepted (``SVC_HTTP__MAX_BODY_BYTES``).
        body_timeout: Seconds for the whole body to arrive (``SVC_HTTP__BODY_TIMEOUT``).
        strict_json: Refuse JSON bodies that are not UTF-8 or hold ``NaN``/``Infinity``.
        route_limits: Path prefix → byte limit, for the few routes that need another
            limit (the longest matching prefix wins).

    Raises:
        ConfigurationError: A limit or the timeout is not positive.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        body_timeout: float = 30.0,
        strict_json: bool = True,
        route_limits: Mapping[str, int] | None = None,
    ) -> None:
        limits = dict(route_limits or {})
        if max_body_bytes <= 0 or body_timeout <= 0 or any(v <= 0 for v in limits.values()):
            msg = "body limits and the body timeout must be positive"
            raise ConfigurationError(msg)
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.strict_json = strict_json
        self.route_limits = sorted(limits.items(), key=lambda kv: len(kv[0]), reverse=True)

    def limit_for(self, path: str) -> int:
        """The byte limit that applies to ``path``."""
        for prefix, limit in self.route_limits:
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one ASGI connection; non-HTTP scopes pass through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        length: bytes | None = None
        framed = False
        content_type: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                framed = True
            elif name == b"content-type":
                content_type = value
        if not framed and scope.get("http_version", "1.1") in _HTTP1 and length in (None, b"0"):
            await self.app(scope, receive, send)  # no body: nothing to guard
            return

        limit = self.limit_for(scope["path"]) if self.route_limits else self.max_body_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            await send_problem(
                send,
                413,
                headers=(CONNECTION_CLOSE,),
                detail=f"The request body is larger than {limit} bytes.",
            )
            return

        guard = _BodyGuard(
            receive,
            send,
            limit,
            self.body_timeout,
            json_body=self.strict_json and _is_json(content_type),
        )
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            if guard.failure is None:
                raise
            # The app let our failure (or what it made of it) escape: answered below.
        failure = guard.failure
        if failure is None:
            return
        if guard.started:
            raise failure  # too late for a problem: the server aborts the connection
        close = () if isinstance(failure, MalformedJSONError) else (CONNECTION_CLOSE,)
        await send_problem(
            send,
            failure.status_code,
            headers=close,
            detail=failure.detail,
            type_=failure.type,
            title=failure.title,
        )
