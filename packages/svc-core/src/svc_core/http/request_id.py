"""Request ids: echo a well-formed ``X-Request-ID`` or make one, and put it everywhere.

A *well-formed* request id is 1 to 128 characters, each an ASCII letter, a digit or one of
``.``, ``_``, ``:`` and ``-`` (the regular expression :data:`REQUEST_ID_PATTERN`). That
covers UUIDs in any of their usual spellings, W3C trace ids, ULIDs and the ids load
balancers and API gateways generate, while keeping out everything that could forge a log
line or a header (spaces, control characters, quotes, ``;``, ``,``, non-ASCII).

An incoming id that is not well-formed is never repaired or truncated: it is replaced by a
fresh id, 32 lower-case hex digits (128 random bits, the size of a UUID4).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Final

from svc_core.context import set_request_id

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "REQUEST_ID_HEADER",
    "REQUEST_ID_PATTERN",
    "RequestIdMiddleware",
    "is_valid_request_id",
    "new_request_id",
]

#: The header that carries the request id in both directions.
REQUEST_ID_HEADER: Final = "X-Request-ID"
#: What an incoming request id must match in full to be echoed.
REQUEST_ID_PATTERN: Final = r"[A-Za-z0-9._:-]{1,128}"

_VALID_BYTES = re.compile(REQUEST_ID_PATTERN.encode("ascii")).fullmatch
_VALID_STR = re.compile(REQUEST_ID_PATTERN).fullmatch


_BATCH: Final = 256
_pool: list[str] = []


def new_request_id() -> str:
    """A fresh request id: 32 lower-case hex digits (128 bits from ``os.urandom``).

    Ids are cut from one ``os.urandom`` call per 256 ids: a system call per request
    costs ~2 us inside a busy server (cold caches), ten times its cost in a tight loop.
    ``list.pop`` is atomic, so threads never share an id.
    """
    try:
        return _pool.pop()
    except IndexError:
        data = os.urandom(16 * _BATCH).hex()
        _pool.extend([data[i : i + 32] for i in range(32, len(data), 32)])
        return data[:32]


def is_valid_request_id(value: str | bytes) -> bool:
    """True when ``value`` is a well-formed request id (see the module docstring)."""
    if isinstance(value, bytes):
        return _VALID_BYTES(value) is not None
    return _VALID_STR(value) is not None


class RequestIdMiddleware:
    """Give every HTTP request an id, expose it in the context and on the response.

    The id comes from the first ``X-Request-ID`` request header when it is well-formed,
    else it is generated. While the request runs it is available from
    :func:`svc_core.context.get_request_id` (problem documents and logs read it there); it
    is reset afterwards. Every response gets exactly one ``X-Request-ID`` header with it;
    one set by the application is replaced.

    ``response_headers`` are added to every response too, each unless the application
    set that header itself — svc-core's default stack passes the security headers
    (:func:`~svc_core.http.headers.security_headers`) here, so one response wrapper does
    the work of two layers.

    Args:
        app: The ASGI application to wrap.
        header_name: The header to read and write.
        trust_incoming: ``False`` ignores the client's header and always generates an id
            (for services whose clients should not choose ids that end up in logs).
        response_headers: Raw (lower-case name, value) pairs added when absent.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        header_name: str = REQUEST_ID_HEADER,
        trust_incoming: bool = True,
        response_headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        self.app = app
        self.header_name = header_name
        self.trust_incoming = trust_incoming
        self._name = header_name.lower().encode("latin-1")
        self._extra = tuple((k.lower(), v) for k, v in response_headers if k.lower() != self._name)
        self._names = frozenset([self._name, *(k for k, _ in self._extra)])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one ASGI connection; non-HTTP scopes pass through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        name = self._name
        raw: bytes | None = None
        if self.trust_incoming:
            for key, value in scope["headers"]:
                if key == name:
                    if _VALID_BYTES(value) is not None:
                        raw = value
                    break
        if raw is None:
            request_id = new_request_id()
            raw = request_id.encode("ascii")
        else:
            request_id = raw.decode("ascii")
        header = (name, raw)
        extra = self._extra
        names = self._names

        def send_with_id(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                added = (header, *extra)
                # ASGI response header names are lower-case by specification.
                for key, _ in headers:
                    if key in names:  # the app set some: its id is replaced, the rest kept
                        present = {k for k, _ in headers}
                        headers = [h for h in headers if h[0] != name]
                        added = (header, *(h for h in extra if h[0] not in present))
                        break
                # A copy, never an in-place edit: the app may reuse its message or list.
                message = {**message, "headers": [*headers, *added]}
            return send(message)

        token = set_request_id(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            token.var.reset(token)
