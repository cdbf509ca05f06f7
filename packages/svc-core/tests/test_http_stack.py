"""core_middleware's layers and orders; apply_middleware's nesting; non-HTTP scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, WebSocket
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from svc_core.errors import ConfigurationError, ServiceUnavailableError, install_error_handlers
from svc_core.http import (
    BodyLimitMiddleware,
    ErrorBoundaryMiddleware,
    RequestIdMiddleware,
    StrictCORSMiddleware,
    TimeoutMiddleware,
    apply_middleware,
    core_middleware,
    security_headers,
)
from svc_core.plugin import CorePlugin, MiddlewareSpec
from svc_core.settings import HttpSettings, SvcSettings


def test_the_core_layers_and_their_documented_orders() -> None:
    specs = core_middleware(SvcSettings(env="test", http=HttpSettings(cors_origins="https://a.b")))
    assert [(s.name, s.order, s.factory) for s in specs] == [
        ("request_id", 100, RequestIdMiddleware),
        ("outer_error_boundary", 210, ErrorBoundaryMiddleware),
        ("cors", 400, StrictCORSMiddleware),
        ("body_limit", 500, BodyLimitMiddleware),
        ("handler_timeout", 600, TimeoutMiddleware),
        ("error_boundary", 900, ErrorBoundaryMiddleware),
    ]


def test_the_layers_take_their_options_from_the_settings() -> None:
    http = HttpSettings(max_body_bytes=10, body_timeout=2, handler_timeout=3, hsts_max_age=5)
    specs = {s.name: s for s in core_middleware(SvcSettings(env="prod", http=http))}
    assert specs["request_id"].options == {
        "response_headers": security_headers(hsts=True, hsts_max_age=5)
    }
    assert (b"strict-transport-security", b"max-age=5; includeSubDomains") in specs[
        "request_id"
    ].options["response_headers"]
    assert specs["body_limit"].options["max_body_bytes"] == 10
    assert specs["body_limit"].options["body_timeout"] == 2
    assert specs["handler_timeout"].options["handler_timeout"] == 3
    dev = {s.name: s for s in core_middleware(SvcSettings(env="dev"))}
    assert b"strict-transport-security" not in dict(dev["request_id"].options["response_headers"])


def test_route_overrides_reach_the_layers() -> None:
    specs = {
        s.name: s
        for s in core_middleware(
            SvcSettings(env="test"), route_timeouts={"/sse": None}, route_limits={"/up": 99}
        )
    }
    assert specs["handler_timeout"].options["route_timeouts"] == {"/sse": None}
    assert specs["body_limit"].options["route_limits"] == {"/up": 99}


def test_the_core_plugin_contributes_the_same_layers() -> None:
    class FakeRuntime:
        settings = SvcSettings(env="test")

    names = [s.name for s in CorePlugin().middleware(FakeRuntime())]  # type: ignore[arg-type]
    assert names == [s.name for s in core_middleware(SvcSettings(env="test"))]


# ---------------------------------------------------------------- apply_middleware


def tracer(log: list[str]) -> Any:
    """A factory of layers that log "in:<tag>" and "out:<tag>"."""

    def factory(app: ASGIApp, *, tag: str) -> ASGIApp:
        async def layer(scope: Scope, receive: Receive, send: Send) -> None:
            log.append(f"in:{tag}")

            async def send_logged(message: Message) -> None:
                if message["type"] == "http.response.start":
                    log.append(f"out:{tag}")
                await send(message)

            await app(scope, receive, send_logged)

        return layer

    return factory


def specs_for(log: list[str]) -> list[MiddlewareSpec]:
    f = tracer(log)
    # Deliberately shuffled, with a tie (the two 500s keep their relative order).
    return [
        MiddlewareSpec("c", 900, f, {"tag": "900"}),
        MiddlewareSpec("a", 100, f, {"tag": "100"}),
        MiddlewareSpec("t1", 500, f, {"tag": "500a"}),
        MiddlewareSpec("b", 150, f, {"tag": "150"}),
        MiddlewareSpec("t2", 500, f, {"tag": "500b"}),
    ]


EXPECTED = [
    "in:100",
    "in:150",
    "in:500a",
    "in:500b",
    "in:900",
    "out:900",
    "out:500b",
    "out:500a",
    "out:150",
    "out:100",
]


async def test_apply_middleware_on_fastapi_nests_by_order() -> None:
    log: list[str] = []
    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, bool]:
        return {"ok": True}

    assert apply_middleware(app, specs_for(log)) is app
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/")).status_code == 200
    assert log == EXPECTED


async def test_apply_middleware_wraps_a_plain_asgi_app_by_order() -> None:
    log: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    wrapped = apply_middleware(app, specs_for(log))
    assert wrapped is not app

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        pass

    await wrapped({"type": "http", "headers": []}, receive, send)
    assert log == EXPECTED


def test_apply_middleware_refuses_duplicate_names() -> None:
    spec = MiddlewareSpec("same", 100, tracer([]), {"tag": "x"})
    with pytest.raises(ConfigurationError, match="same"):
        apply_middleware(FastAPI(), [spec, MiddlewareSpec("same", 200, spec.factory, spec.options)])


async def test_a_413_from_an_inner_layer_carries_the_outer_layers_headers() -> None:
    # The nesting seen from outside: request id and security headers wrap the body limit.
    app = FastAPI()
    install_error_handlers(app)
    apply_middleware(app, core_middleware(SvcSettings(env="test", http={"max_body_bytes": 1})))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.post("/", content=b"too big", headers={"X-Request-ID": "r-1"})
    assert response.status_code == 413
    assert response.headers["x-request-id"] == "r-1"
    assert response.json()["request_id"] == "r-1"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("raised", ["plain", "svc_error"])
async def test_a_layer_of_another_package_that_raises_still_gets_a_proper_problem(
    raised: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A plugin's middleware (order 700, like rate limiting) fails: the client still gets
    # problem+json with X-Request-ID, the security headers and the request id in the body.
    def failing(app: Any) -> Any:
        async def layer(scope: Scope, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                if raised == "plain":
                    raise RuntimeError("store exploded: secret-token-123")
                raise ServiceUnavailableError("try later", headers={"Retry-After": "3"})
            await app(scope, receive, send)

        return layer

    app = FastAPI()
    install_error_handlers(app)
    specs = [*core_middleware(SvcSettings(env="test")), MiddlewareSpec("failing", 700, failing)]
    apply_middleware(app, specs)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/", headers={"X-Request-ID": "r-7"})
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "r-7"
    assert response.headers["x-content-type-options"] == "nosniff"
    body = response.json()
    assert body["request_id"] == "r-7"
    if raised == "plain":
        assert response.status_code == 500
        assert "secret-token-123" not in response.text
        assert "RuntimeError" not in response.text
    else:
        assert response.status_code == 503
        assert response.headers["retry-after"] == "3"
        assert body["detail"] == "try later"


# ---------------------------------------------------------------- other scope types


async def test_lifespan_and_websockets_pass_through_the_whole_stack() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    apply_middleware(app, core_middleware(SvcSettings(env="test")))

    async def drive(scope: Scope, inbox: list[Message]) -> list[Message]:
        outbox: list[Message] = []

        async def receive() -> Message:
            return inbox.pop(0)

        async def send(message: Message) -> None:
            outbox.append(message)

        await app(scope, receive, send)
        return outbox

    lifespan_scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    out = await drive(lifespan_scope, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    assert [m["type"] for m in out] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["startup", "shutdown"]

    ws_scope = {
        "type": "websocket",
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "subprotocols": [],
        "asgi": {"version": "3.0"},
        "app": app,
    }
    out = await drive(ws_scope, [{"type": "websocket.connect"}])
    assert [m["type"] for m in out] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert out[1]["text"] == "hello"
