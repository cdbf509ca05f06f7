"""Fixtures of svc-ratelimit's tests: an app factory and a test-owned redis-server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
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
from svc_ratelimit import RatelimitPlugin, RatelimitSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server this test owns: started on a free loopback port, killed by PID."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        msg = "redis-server did not start"
        raise RuntimeError(msg)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def command(self, *args: str) -> bytes:
        """One command over a raw socket (no client library state involved)."""
        out = [f"*{len(args)}\r\n".encode()]
        out += [f"${len(arg.encode())}\r\n{arg}\r\n".encode() for arg in args]
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"".join(out))
            time.sleep(0.05)
            return sock.recv(1 << 20)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A started redis-server of this test's own; killed at the end."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


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
