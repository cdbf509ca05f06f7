"""In-process cost of each svc-core middleware layer, without a server or a network.

Calls ASGI apps directly on uvloop with a canned GET /ping scope, ``receive`` and
``send``, and reports CPU microseconds per request (``time.process_time``). Each variant
runs right after its baseline and its extra cost is the median of these paired
differences over the rounds, so slow drift on a busy machine cancels. It complements
``run_core_http.py``: no uvicorn and no wrk, so it is less sensitive to a busy machine,
and it splits the stack's cost by layer. It leaves out what the server pays per extra
response header (uvicorn validates and serialises each one).

    uv run python bench/core_http_micro.py --n 2000 --rounds 20
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import TYPE_CHECKING, Any

import uvloop
from fastapi import FastAPI

from svc_core.errors import install_error_handlers
from svc_core.http import (
    BodyLimitMiddleware,
    ErrorBoundaryMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
    StrictCORSMiddleware,
    TimeoutMiddleware,
    apply_middleware,
    core_middleware,
)
from svc_core.settings import SvcSettings

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCOPE: Scope = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/ping",
    "raw_path": b"/ping",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
    "client": ("127.0.0.1", 40000),
    "server": ("127.0.0.1", 8000),
    "state": {},
}
CORS = {"cors_origins": "https://app.example.com"}


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Message) -> None:
    pass


def raw_app() -> ASGIApp:
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
    }
    body = {"type": "http.response.body", "body": b'{"ok":true}'}

    async def app(_scope: Scope, _receive: Receive, send: Send) -> None:
        await send(start)
        await send(body)

    return app


def fastapi_app(stack: str | None = None) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/ping", response_model=None)
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    if stack == "core":
        apply_middleware(app, core_middleware(SvcSettings()))
    elif stack == "core_cors_prod":
        apply_middleware(app, core_middleware(SvcSettings(env="prod", http=CORS)))
    return app


def cors_only(app: ASGIApp) -> ASGIApp:
    return StrictCORSMiddleware(app, allow_origins=[CORS["cors_origins"]])


def variants() -> dict[str, tuple[str, Any]]:
    """name -> (baseline name, app)."""
    return {
        "raw ASGI": ("", raw_app()),
        "raw + RequestIdMiddleware": ("raw ASGI", RequestIdMiddleware(raw_app())),
        "raw + SecurityHeadersMiddleware": ("raw ASGI", SecurityHeadersMiddleware(raw_app())),
        "raw + StrictCORSMiddleware (no Origin)": ("raw ASGI", cors_only(raw_app())),
        "raw + BodyLimitMiddleware": ("raw ASGI", BodyLimitMiddleware(raw_app())),
        "raw + TimeoutMiddleware": ("raw ASGI", TimeoutMiddleware(raw_app())),
        "raw + ErrorBoundaryMiddleware": ("raw ASGI", ErrorBoundaryMiddleware(raw_app())),
        "raw + core stack (defaults)": (
            "raw ASGI",
            apply_middleware(raw_app(), core_middleware(SvcSettings())),
        ),
        "FastAPI bare": ("", fastapi_app()),
        "FastAPI + core stack (defaults)": ("FastAPI bare", fastapi_app("core")),
        "FastAPI + core stack (prod, CORS)": ("FastAPI bare", fastapi_app("core_cors_prod")),
    }


async def cpu_per_request(app: Any, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        await app(dict(SCOPE), receive, send)
    return (time.process_time() - started) / n * 1e6


async def main(n: int, rounds: int) -> None:
    apps = variants()
    for _, app in apps.values():  # warm-up (and the lazy FastAPI stack build)
        await cpu_per_request(app, 200)
    alone: dict[str, list[float]] = {name: [] for name in apps}
    extra: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, (base, app) in apps.items():
            # Paired: the baseline runs right before each variant, so drift cancels.
            before = await cpu_per_request(apps[base][1], n) if base else 0.0
            value = await cpu_per_request(app, n)
            alone[name].append(value)
            if base:
                extra[name].append(value - before)
    print("| app | CPU us/req (median) | + us over baseline (median of paired runs) |")
    print("|---|---|---|")
    for name, (base, _) in apps.items():
        added = f"+{statistics.median(extra[name]):.2f}" if base else "-"
        print(f"| {name} | {statistics.median(alone[name]):.2f} | {added} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    uvloop.run(main(args.n, args.rounds))
