"""SecurityHeadersMiddleware and ErrorBoundaryMiddleware at the ASGI level."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from svc_core.context import scope as context_scope
from svc_core.errors import PROBLEM_CONTENT_TYPE, ServiceUnavailableError
from svc_core.http import (
    GENERIC_DETAIL,
    ErrorBoundaryMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
    security_headers,
)


async def call(app: Any, scope: Scope | None = None) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope or {"type": "http", "method": "GET", "path": "/x"}, receive, send)
    return sent


def answering(headers: list[tuple[bytes, bytes]]) -> Any:
    start = {"type": "http.response.start", "status": 200, "headers": headers}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start)
        await send({"type": "http.response.body", "body": b""})

    return app


def header_map(message: Message) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    for k, v in message["headers"]:
        out.setdefault(k, []).append(v)
    return out


# ---------------------------------------------------------------- security headers


async def test_the_default_headers_and_no_hsts() -> None:
    sent = await call(SecurityHeadersMiddleware(answering([])))
    assert header_map(sent[0]) == {
        b"x-content-type-options": [b"nosniff"],
        b"referrer-policy": [b"no-referrer"],
        b"x-frame-options": [b"DENY"],
        b"content-security-policy": [b"frame-ancestors 'none'"],
    }


async def test_hsts_variants_and_extra_headers() -> None:
    middleware = SecurityHeadersMiddleware(
        answering([]),
        hsts=True,
        hsts_max_age=100,
        hsts_preload=True,
        referrer_policy="strict-origin-when-cross-origin",
        content_security_policy=None,
        extra_headers={"Cross-Origin-Opener-Policy": "same-origin"},
    )
    headers = header_map((await call(middleware))[0])
    assert headers[b"strict-transport-security"] == [b"max-age=100; includeSubDomains; preload"]
    assert headers[b"referrer-policy"] == [b"strict-origin-when-cross-origin"]
    assert headers[b"cross-origin-opener-policy"] == [b"same-origin"]
    assert b"content-security-policy" not in headers


async def test_headers_the_app_set_are_kept_and_never_doubled() -> None:
    own = [(b"content-security-policy", b"default-src 'self'"), (b"referrer-policy", b"origin")]
    snapshot = list(own)
    middleware = SecurityHeadersMiddleware(answering(own), hsts=True)
    for _ in range(2):  # the app reuses its message: it must not grow
        headers = header_map((await call(middleware))[0])
        assert headers[b"content-security-policy"] == [b"default-src 'self'"]
        assert headers[b"referrer-policy"] == [b"origin"]
        assert headers[b"x-frame-options"] == [b"DENY"]
        assert len(headers[b"strict-transport-security"]) == 1
    assert own == snapshot


async def test_the_request_id_layer_sends_them_too_with_the_same_rules() -> None:
    """The default stack's fused layer: id replaced, the app's own headers kept, none doubled."""
    own = [
        (b"content-security-policy", b"default-src 'self'"),
        (b"x-request-id", b"from-the-app"),
    ]
    snapshot = list(own)
    middleware = RequestIdMiddleware(
        answering(own), response_headers=security_headers(hsts=True, hsts_max_age=7)
    )
    for _ in range(2):  # the app reuses its message: it must not grow
        sent = await call(middleware, {"type": "http", "headers": [(b"x-request-id", b"client-1")]})
        headers = header_map(sent[0])
        assert headers[b"x-request-id"] == [b"client-1"]
        assert headers[b"content-security-policy"] == [b"default-src 'self'"]
        assert headers[b"x-frame-options"] == [b"DENY"]
        assert headers[b"strict-transport-security"] == [b"max-age=7; includeSubDomains"]
        assert all(len(values) == 1 for values in headers.values())
    assert own == snapshot
    bare = RequestIdMiddleware(answering([]), response_headers=security_headers())
    plain = header_map((await call(bare, {"type": "http", "headers": []}))[0])
    assert set(plain) == {
        b"x-request-id",
        b"x-content-type-options",
        b"referrer-policy",
        b"x-frame-options",
        b"content-security-policy",
    }


async def test_security_headers_pass_non_http_scopes() -> None:
    sent = await call(SecurityHeadersMiddleware(answering([])), {"type": "websocket"})
    assert sent[0]["headers"] == []


# ---------------------------------------------------------------- error boundary


def failing(exc: BaseException, *, after_start: bool = False) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if after_start:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise exc

    return app


def problem_of(sent: list[Message]) -> tuple[int, dict[bytes, bytes], dict[str, Any]]:
    start, body = sent
    headers = dict(start["headers"])
    assert headers[b"content-type"] == PROBLEM_CONTENT_TYPE.encode()
    assert headers[b"content-length"] == str(len(body["body"])).encode()
    return int(start["status"]), headers, json.loads(body["body"])


async def test_an_unexpected_exception_becomes_a_generic_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    route = type("Route", (), {"path": "/users/{id}"})()
    scope = {"type": "http", "method": "GET", "path": "/users/secret-token", "route": route}
    with context_scope(request_id="rid-1"), caplog.at_level(logging.ERROR, "svc_core.http"):
        sent = await call(ErrorBoundaryMiddleware(failing(ValueError("db password"))), scope)
    status, _, problem = problem_of(sent)
    assert status == 500
    assert problem == {
        "type": "https://svc-infra.dev/problems#internal-error",
        "title": "Internal Server Error",
        "status": 500,
        "detail": GENERIC_DETAIL,
        "request_id": "rid-1",
    }
    (record,) = caplog.records
    assert "GET /users/{id}" in record.getMessage()
    assert "secret-token" not in record.getMessage()
    assert record.exc_info is not None


async def test_an_exception_group_is_a_500_too() -> None:
    sent = await call(ErrorBoundaryMiddleware(failing(ExceptionGroup("x", [KeyError("k")]))))
    assert problem_of(sent)[0] == 500


async def test_an_svc_error_keeps_its_status_and_headers(caplog: pytest.LogCaptureFixture) -> None:
    exc = ServiceUnavailableError("Try later.", headers={"Retry-After": "5"})
    with caplog.at_level(logging.ERROR, "svc_core.http"):
        sent = await call(ErrorBoundaryMiddleware(failing(exc)))
    status, headers, problem = problem_of(sent)
    assert status == 503
    assert headers[b"retry-after"] == b"5"
    assert problem["detail"] == "Try later."
    assert caplog.records  # a 5xx is logged


async def test_after_the_response_started_the_error_is_logged_and_reraised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, "svc_core.http"), pytest.raises(RuntimeError):
        await call(ErrorBoundaryMiddleware(failing(RuntimeError("late"), after_start=True)))
    assert "after the response started" in caplog.records[0].getMessage()


async def test_base_exceptions_are_not_swallowed() -> None:
    import asyncio

    with pytest.raises(asyncio.CancelledError):
        await call(ErrorBoundaryMiddleware(failing(asyncio.CancelledError())))


async def test_the_boundary_passes_non_http_scopes() -> None:
    with pytest.raises(KeyError):
        await call(ErrorBoundaryMiddleware(failing(KeyError("x"))), {"type": "websocket"})
