"""Fixtures of svc-ratelimit's tests: an app factory (the test-owned redis-server is
svc-core's ``redis_server`` fixture)."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from svc_core.errors import install_error_handlers
from svc_core.http import apply_middleware
from svc_core.http.request_id import RequestIdMiddleware
from svc_core.kv import KV
from svc_core.plugin import MiddlewareSpec, Runtime
from svc_core.settings import SvcSettings
from svc_core.testing import free_port
from svc_ratelimit import RatelimitPlugin, RatelimitSettings


def build_app(
    kv: KV,
    *,
    env: dict[str, Any] | None = None,
    http: dict[str, Any] | None = None,
    routes: Callable[[FastAPI], None] | None = None,
    state: dict[str, Any] | None = None,
    before: list[MiddlewareSpec] | None = None,
    abuse_hook: Any = None,
) -> tuple[FastAPI, Runtime]:
    """A FastAPI app wired as svc_infra.create_app() would, with the ratelimit plugin."""
    settings = SvcSettings(http=http or {})
    runtime = Runtime(settings=settings, kv=kv, database=None)  # type: ignore[arg-type]
    runtime.state.update(state or {})
    plugin = RatelimitPlugin(RatelimitSettings(**(env or {})), abuse_hook=abuse_hook)
    app = FastAPI()
    app.state.runtime = runtime
    install_error_handlers(app)
    plugin.setup(app, runtime)

    @app.get("/items")
    async def items() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/_ops/live")
    async def live() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/auth/login")
    async def login() -> dict[str, bool]:
        return {"ok": True}

    if routes is not None:
        routes(app)
    specs = [MiddlewareSpec("request_id", 100, RequestIdMiddleware), *(before or [])]
    specs += list(plugin.middleware(runtime))
    apply_middleware(app, specs)
    return app, runtime


@pytest.fixture
def app_factory() -> Callable[..., tuple[FastAPI, Runtime]]:
    """:func:`build_app`, for test modules (they cannot import this conftest)."""
    return build_app


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    port = free_port()
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


async def client_for(
    app: FastAPI, client: tuple[str, int] = ("10.1.1.1", 1234)
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def http() -> AsyncIterator[Callable[..., Any]]:
    """Make httpx clients on an app; all closed at the end."""
    clients: list[httpx.AsyncClient] = []

    async def make(app: FastAPI, client: tuple[str, int] = ("10.1.1.1", 1234)) -> httpx.AsyncClient:
        c = await client_for(app, client)
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()
