"""Small raw-ASGI helpers shared by the middleware in this package (private)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from svc_core.errors import PROBLEM_CONTENT_TYPE, problem_bytes

if TYPE_CHECKING:
    from collections.abc import Iterable

    from starlette.types import Send

_CONTENT_TYPE = (b"content-type", PROBLEM_CONTENT_TYPE.encode("ascii"))
CONNECTION_CLOSE = (b"connection", b"close")


async def send_problem(
    send: Send,
    status: int,
    *,
    headers: Iterable[tuple[bytes, bytes]] = (),
    **problem: Any,
) -> None:
    """Send a complete ``application/problem+json`` response straight over ASGI.

    Args:
        send: The ASGI ``send`` callable.
        status: The HTTP status; also the problem's ``status`` member.
        headers: Extra raw response headers (lower-case names).
        **problem: Keyword arguments of :func:`svc_core.errors.problem_bytes`
            (``detail``, ``type_``, ``title``, ``extensions``); ``request_id`` defaults to
            the current request's id.
    """
    body = problem_bytes(status, **problem)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                _CONTENT_TYPE,
                (b"content-length", str(len(body)).encode("ascii")),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def encode_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Raw ASGI headers (lower-case latin-1 names) from ``(name, value)`` string pairs."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
