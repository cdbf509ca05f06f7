"""Body limits (413), the body-read timeout (408) and strict JSON (400), driven raw.

These tests play the server: they script ``receive`` (chunks, stalls, disconnects) and
record ``send``, which httpx cannot do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest
from fastapi import FastAPI, Request
from starlette.types import Message, Receive, Scope, Send

from svc_core.errors import PROBLEM_CONTENT_TYPE, ConfigurationError, install_error_handlers
from svc_core.http import (
    BodyLimitMiddleware,
    ContentTooLargeError,
    apply_middleware,
    core_middleware,
)
from svc_core.settings import HttpSettings, SvcSettings

STALL = object()  # in a script: receive() never returns from here on


class Wire:
    """A scripted client connection: ``receive`` plays ``script``, ``send`` records."""

    def __init__(self, script: Iterable[Any] = ()) -> None:
        self.script = list(script)
        self.sent: list[Message] = []
        self.receive_calls = 0

    async def receive(self) -> Message:
        self.receive_calls += 1
        if not self.script:
            await asyncio.Event().wait()  # a real server blocks until the client disconnects
        item = self.script.pop(0)
        if item is STALL:
            await asyncio.Event().wait()
        if isinstance(item, float):
            await asyncio.sleep(item)
            return await self.receive()
        assert isinstance(item, dict)
        return item

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        start = [m for m in self.sent if m["type"] == "http.response.start"]
        assert len(start) == 1, self.sent
        return int(start[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return {k.decode(): v.decode() for k, v in start["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def chunk(data: bytes, *, more: bool = True) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


def scope_for(
    path: str = "/items",
    *,
    method: str = "POST",
    headers: Iterable[tuple[str, str]] = (),
    http_version: str = "1.1",
) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": http_version,
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


CHUNKED = [("transfer-encoding", "chunked"), ("content-type", "application/json")]


def make_app(**http: Any) -> tuple[FastAPI, list[bytes]]:
    """The full core stack on a FastAPI app; the list collects bodies the handler saw."""
    seen: list[bytes] = []
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/items")
    async def items(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(body)
        return {"size": len(body)}

    settings = SvcSettings(env="test", http=HttpSettings(**http))
    apply_middleware(app, core_middleware(settings))
    return app, seen


def assert_problem(wire: Wire, status: int) -> dict[str, Any]:
    import json

    assert wire.status == status
    headers = wire.headers
    assert headers["content-type"] == PROBLEM_CONTENT_TYPE
    problem: dict[str, Any] = json.loads(wire.body)
    assert problem["status"] == status
    assert problem["request_id"] == headers["x-request-id"]
    assert headers["x-content-type-options"] == "nosniff"
    return problem


# ---------------------------------------------------------------- 413


async def test_content_length_over_the_limit_is_refused_before_reading() -> None:
    app, seen = make_app(max_body_bytes=100)
    wire = Wire([chunk(b"x" * 101, more=False)])
    headers = [("content-length", "101"), ("content-type", "application/json")]
    await app(scope_for(headers=headers), wire.receive, wire.send)
    problem = assert_problem(wire, 413)
    assert problem["type"].endswith("#content-too-large")
    assert wire.headers["connection"] == "close"
    assert wire.receive_calls == 0
    assert seen == []


async def test_a_chunked_body_over_the_limit_is_a_413_and_the_handler_never_sees_it() -> None:
    app, seen = make_app(max_body_bytes=100)
    wire = Wire([chunk(b"x" * 40) for _ in range(5)] + [chunk(b"", more=False)])
    await app(scope_for(headers=CHUNKED), wire.receive, wire.send)
    assert_problem(wire, 413)
    assert wire.headers["connection"] == "close"
    assert seen == []
    assert wire.receive_calls == 3  # stopped at the chunk that crossed the limit


async def test_an_http2_body_without_content_length_is_counted() -> None:
    app, seen = make_app(max_body_bytes=10)
    wire = Wire([chunk(b"x" * 8), chunk(b"x" * 8, more=False)])
    await app(scope_for(http_version="2"), wire.receive, wire.send)
    assert_problem(wire, 413)
    assert seen == []


@pytest.mark.parametrize("sizes", [[100], [50, 50], [30, 30, 30, 10]])
async def test_a_body_up_to_the_limit_passes(sizes: list[int]) -> None:
    app, seen = make_app(max_body_bytes=100)
    script = [chunk(b"x" * n, more=i < len(sizes) - 1) for i, n in enumerate(sizes)]
    wire = Wire(script)
    await app(scope_for(headers=[("transfer-encoding", "chunked")]), wire.receive, wire.send)
    assert wire.status == 200
    assert seen == [b"x" * 100]


async def test_a_route_limit_overrides_the_default() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limited = BodyLimitMiddleware(app, max_body_bytes=10, route_limits={"/upload": 1000})
    for path, status in (("/upload/photo", 204), ("/items", 413)):
        wire = Wire([chunk(b"x" * 500, more=False)])
        await limited(scope_for(path, headers=[("content-length", "500")]), wire.receive, wire.send)
        assert wire.status == status, path
    assert limited.limit_for("/upload") == 1000
    assert limited.limit_for("/uploads") == 1000
    assert limited.limit_for("/") == 10


async def test_when_the_response_already_started_the_connection_is_aborted() -> None:
    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while True:
            message = await receive()
            await send({"type": "http.response.body", "body": message["body"], "more_body": True})

    wire = Wire([chunk(b"x" * 8) for _ in range(4)])
    with pytest.raises(ContentTooLargeError):
        await BodyLimitMiddleware(echo, max_body_bytes=20)(
            scope_for(headers=[("transfer-encoding", "chunked")]), wire.receive, wire.send
        )
    # Nothing after the trip reached the client, and no "complete" body was sent.
    assert wire.body == b"x" * 16
    assert all(m.get("more_body", False) for m in wire.sent if m["type"] == "http.response.body")


# ---------------------------------------------------------------- 408


async def test_a_stalled_body_is_a_408_problem() -> None:
    app, seen = make_app(body_timeout=0.1)
    wire = Wire([chunk(b'{"name": '), STALL])
    headers = [("content-length", "50"), ("content-type", "application/json")]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await app(scope_for(headers=headers), wire.receive, wire.send)
    elapsed = loop.time() - started
    problem = assert_problem(wire, 408)
    assert problem["type"].endswith("#request-timeout")
    assert wire.headers["connection"] == "close"
    assert 0.09 <= elapsed < 1.0
    assert seen == []


async def test_a_body_that_never_starts_is_a_408() -> None:
    app, seen = make_app(body_timeout=0.05)
    wire = Wire([STALL])
    await app(scope_for(headers=[("content-length", "5")]), wire.receive, wire.send)
    assert_problem(wire, 408)
    assert seen == []


async def test_the_timeout_covers_the_whole_body_not_each_chunk() -> None:
    # A slowloris client: every chunk is on time, the body as a whole is not.
    app, seen = make_app(body_timeout=0.15)
    script: list[Any] = []
    for _ in range(10):
        script += [0.04, chunk(b"x")]
    wire = Wire(script)
    await app(scope_for(headers=[("transfer-encoding", "chunked")]), wire.receive, wire.send)
    assert_problem(wire, 408)
    assert seen == []


async def test_a_slow_but_timely_body_passes() -> None:
    app, seen = make_app(body_timeout=1.0)
    wire = Wire([0.02, chunk(b"ab"), 0.02, chunk(b"cd", more=False)])
    await app(scope_for(headers=[("transfer-encoding", "chunked")]), wire.receive, wire.send)
    assert wire.status == 200
    assert seen == [b"abcd"]


async def test_the_clock_starts_at_the_first_read() -> None:
    # Time the app spends before reading (auth, say) is not charged to the client.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.15)
        await receive()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    wire = Wire([chunk(b"x", more=False)])
    limited = BodyLimitMiddleware(app, body_timeout=0.1)
    await limited(scope_for(headers=[("content-length", "1")]), wire.receive, wire.send)
    assert wire.status == 204


async def test_after_the_body_receive_is_not_timed() -> None:
    # Waiting for http.disconnect after the body (streaming responses do) is fine.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        assert (await receive())["type"] == "http.disconnect"
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    wire = Wire([chunk(b"x", more=False), 0.15, {"type": "http.disconnect"}])
    limited = BodyLimitMiddleware(app, body_timeout=0.05)
    await limited(scope_for(headers=[("content-length", "1")]), wire.receive, wire.send)
    assert wire.status == 204


async def test_a_client_disconnect_reaches_the_app() -> None:
    got: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        got.append((await receive())["type"])

    wire = Wire([{"type": "http.disconnect"}])
    limited = BodyLimitMiddleware(app, body_timeout=0.05)
    await limited(scope_for(headers=[("content-length", "10")]), wire.receive, wire.send)
    assert got == ["http.disconnect"]
    assert wire.sent == []


# ---------------------------------------------------------------- strict JSON


@pytest.mark.parametrize(
    "parts",
    [[b'{"a": Na', b"N}"], [b'{"a": -Infin', b"ity}"], [b'["\xc3', b'\x28"]']],
    ids=["nan-split", "minus-infinity-split", "invalid-utf8-split"],
)
async def test_strict_json_sees_across_chunks(parts: list[bytes]) -> None:
    app, seen = make_app()
    script = [chunk(p, more=i < len(parts) - 1) for i, p in enumerate(parts)]
    wire = Wire(script)
    await app(scope_for(headers=CHUNKED), wire.receive, wire.send)
    problem = assert_problem(wire, 400)
    assert problem["type"].endswith("#malformed-json")
    assert "connection" not in wire.headers  # the body was read in full
    assert seen == []


async def test_strict_json_only_applies_to_json_bodies() -> None:
    app, seen = make_app()
    wire = Wire([chunk(b"NaN \xff", more=False)])
    headers = [("content-length", "5"), ("content-type", "application/octet-stream")]
    await app(scope_for(headers=headers), wire.receive, wire.send)
    assert wire.status == 200
    assert seen == [b"NaN \xff"]


async def test_strict_json_can_be_turned_off() -> None:
    bodies: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        bodies.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    lax = BodyLimitMiddleware(app, strict_json=False)
    wire = Wire([chunk(b"[NaN]", more=False)])
    headers = [("content-length", "5"), ("content-type", "application/json")]
    await lax(scope_for(headers=headers), wire.receive, wire.send)
    assert wire.status == 204
    assert bodies == [b"[NaN]"]


# ---------------------------------------------------------------- pass-through


async def test_a_request_without_a_body_gets_the_servers_receive() -> None:
    received: list[Receive] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(receive)

    wire = Wire()
    limited = BodyLimitMiddleware(app)
    await limited(scope_for(method="GET"), wire.receive, wire.send)
    await limited(scope_for(headers=[("content-length", "0")]), wire.receive, wire.send)
    assert received == [wire.receive, wire.receive]


async def test_non_http_scopes_pass_through() -> None:
    calls: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope["type"])

    wire = Wire()
    await BodyLimitMiddleware(app)({"type": "lifespan"}, wire.receive, wire.send)
    await BodyLimitMiddleware(app)({"type": "websocket"}, wire.receive, wire.send)
    assert calls == ["lifespan", "websocket"]


@pytest.mark.parametrize(
    "options",
    [{"max_body_bytes": 0}, {"body_timeout": 0}, {"route_limits": {"/x": -1}}],
)
def test_limits_must_be_positive(options: dict[str, Any]) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError

    with pytest.raises(ConfigurationError):
        BodyLimitMiddleware(app, **options)
