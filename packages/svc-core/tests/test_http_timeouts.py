"""The handler timeout (504): before, during and after the response, and per route."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from svc_core.errors import PROBLEM_CONTENT_TYPE, ConfigurationError, install_error_handlers
from svc_core.http import (
    DEADLINE_SCOPE_KEY,
    HandlerTimeoutError,
    TimeoutMiddleware,
    apply_middleware,
    core_middleware,
    handler_timeout,
    set_handler_timeout,
)
from svc_core.settings import HttpSettings, SvcSettings


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        await asyncio.Event().wait()
        raise AssertionError

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        return int(starts[0]["status"]) if starts else None

    def problem(self) -> dict[str, Any]:
        start = self.sent[0]
        assert (b"content-type", PROBLEM_CONTENT_TYPE.encode()) in start["headers"]
        body: dict[str, Any] = json.loads(self.sent[1]["body"])
        return body


def scope_for(path: str = "/") -> Scope:
    return {"type": "http", "method": "GET", "path": path, "headers": [], "http_version": "1.1"}


def sleeper(seconds: float, log: list[str]) -> Any:
    """A raw app that sleeps, then answers; logs how it ended."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            log.append("cancelled")
            raise
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
        log.append("finished")

    return app


async def test_a_slow_app_is_cancelled_and_answered_with_504() -> None:
    log: list[str] = []
    rec = Recorder()
    started = time.monotonic()
    scope = scope_for()
    await TimeoutMiddleware(sleeper(5, log), handler_timeout=0.05)(scope, rec.receive, rec.send)
    assert time.monotonic() - started < 1
    assert log == ["cancelled"]
    assert rec.status == 504
    problem = rec.problem()
    assert problem["status"] == 504
    assert problem["type"].endswith("#gateway-timeout")
    assert DEADLINE_SCOPE_KEY not in scope  # no reference cycle left behind


async def test_a_fast_app_is_untouched() -> None:
    log: list[str] = []
    rec = Recorder()
    current = asyncio.current_task()
    assert current is not None
    await TimeoutMiddleware(sleeper(0, log), handler_timeout=0.05)(
        scope_for(), rec.receive, rec.send
    )
    await asyncio.sleep(0.1)  # past the deadline: nothing fires late
    assert log == ["finished"]
    assert rec.status == 200
    assert current.cancelling() == 0


async def test_a_started_response_is_aborted_not_completed() -> None:
    log: list[str] = []

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            for _ in range(100):
                await send({"type": "http.response.body", "body": b".", "more_body": True})
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            log.append("cancelled")
            raise
        await send({"type": "http.response.body", "body": b""})

    rec = Recorder()
    with pytest.raises(HandlerTimeoutError):
        await TimeoutMiddleware(stream, handler_timeout=0.05)(scope_for(), rec.receive, rec.send)
    assert log == ["cancelled"]
    assert rec.status == 200
    assert all(m.get("more_body") for m in rec.sent[1:])  # never marked complete


async def test_work_after_a_complete_response_is_not_cut_short() -> None:
    log: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        await asyncio.sleep(0.1)  # e.g. a Starlette background task
        log.append("background done")

    rec = Recorder()
    await TimeoutMiddleware(app, handler_timeout=0.03)(scope_for(), rec.receive, rec.send)
    assert log == ["background done"]
    assert rec.status == 200


async def test_route_prefixes_choose_their_timeout() -> None:
    log: list[str] = []
    middleware = TimeoutMiddleware(
        sleeper(0.1, log),
        handler_timeout=0.03,
        route_timeouts={"/reports": 1.0, "/events": None, "/reports/quick": 0.01},
    )
    results = {}
    for path in ("/reports/monthly", "/events/stream", "/reports/quick/x", "/items"):
        rec = Recorder()
        await middleware(scope_for(path), rec.receive, rec.send)
        results[path] = rec.status
    assert results == {
        "/reports/monthly": 200,
        "/events/stream": 200,
        "/reports/quick/x": 504,
        "/items": 504,
    }


async def test_concurrent_requests_each_get_their_own_deadline() -> None:
    log: list[str] = []
    middleware = TimeoutMiddleware(
        sleeper(0.12, log), handler_timeout=0.05, route_timeouts={"/long": 1.0, "/short": 0.02}
    )
    recs = {path: Recorder() for path in ("/long", "/a", "/short", "/b")}
    started = time.monotonic()
    await asyncio.gather(*(middleware(scope_for(p), r.receive, r.send) for p, r in recs.items()))
    assert time.monotonic() - started < 0.5
    assert {p: r.status for p, r in recs.items()} == {
        "/long": 200,
        "/a": 504,
        "/short": 504,
        "/b": 504,
    }


async def test_the_app_can_move_its_deadline_either_way() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert set_handler_timeout(scope, scope["wanted"]) is True
        await asyncio.sleep(0.1)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = TimeoutMiddleware(app, handler_timeout=0.05)
    for wanted, status in ((1.0, 200), (None, 200), (0.01, 504)):
        rec = Recorder()
        await middleware({**scope_for(), "wanted": wanted}, rec.receive, rec.send)
        assert rec.status == status, wanted


def test_set_handler_timeout_without_the_middleware_is_a_no_op() -> None:
    assert set_handler_timeout(scope_for(), 10) is False


async def test_a_cancellation_that_is_not_ours_propagates() -> None:
    log: list[str] = []
    rec = Recorder()
    task = asyncio.create_task(
        TimeoutMiddleware(sleeper(5, log), handler_timeout=1)(scope_for(), rec.receive, rec.send)
    )
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["cancelled"]
    assert rec.sent == []


async def test_an_app_that_swallows_the_cancellation_still_answers() -> None:
    async def stubborn(scope: Scope, receive: Receive, send: Send) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # a badly behaved app
            await asyncio.sleep(5)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    rec = Recorder()
    current = asyncio.current_task()
    assert current is not None
    await TimeoutMiddleware(stubborn, handler_timeout=0.03)(scope_for(), rec.receive, rec.send)
    assert rec.status == 200
    assert current.cancelling() == 0  # our cancel request was withdrawn
    await asyncio.sleep(0)  # and is not delivered later


async def test_the_same_middleware_serves_several_event_loops() -> None:
    log: list[str] = []
    middleware = TimeoutMiddleware(sleeper(5, log), handler_timeout=0.03)

    async def once() -> int | None:
        rec = Recorder()
        await middleware(scope_for(), rec.receive, rec.send)
        return rec.status

    assert await once() == 504
    assert await asyncio.to_thread(asyncio.run, once()) == 504
    assert await once() == 504


async def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.05)
        seen.append(scope["type"])

    rec = Recorder()
    await TimeoutMiddleware(app, handler_timeout=0.01)({"type": "websocket"}, rec.receive, rec.send)
    assert seen == ["websocket"]


@pytest.mark.parametrize(
    "options",
    [{"handler_timeout": 0}, {"handler_timeout": -1}, {"route_timeouts": {"/x": 0}}],
)
def test_timeouts_must_be_positive(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        TimeoutMiddleware(sleeper(0, []), **options)
    with pytest.raises(ConfigurationError):
        handler_timeout(0)


# ---------------------------------------------------------------- through FastAPI


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/sync")
    def sync_handler() -> dict[str, bool]:
        time.sleep(0.15)  # a worker thread cannot be interrupted
        return {"ok": True}

    @app.get("/lifted", dependencies=[Depends(handler_timeout(None))])
    async def lifted() -> dict[str, bool]:
        await asyncio.sleep(0.15)
        return {"ok": True}

    @app.get("/shortened", dependencies=[Depends(handler_timeout(0.01))])
    async def shortened() -> dict[str, bool]:
        await asyncio.sleep(0.15)
        return {"ok": True}

    @app.get("/background")
    async def background() -> JSONResponse:
        return JSONResponse({"ok": True}, background=BackgroundTask(asyncio.sleep, 0.15))

    settings = SvcSettings(env="test", http=HttpSettings(handler_timeout=0.05))
    apply_middleware(app, core_middleware(settings))
    return app


@pytest.fixture
async def client() -> Any:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_a_slow_sync_handler_gets_its_504_when_the_thread_returns(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/sync")
    assert response.status_code == 504
    assert response.json()["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(("path", "status"), [("/lifted", 200), ("/shortened", 504)])
async def test_route_dependencies_move_the_deadline(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    assert (await client.get(path)).status_code == status


async def test_background_tasks_run_past_the_deadline(client: httpx.AsyncClient) -> None:
    response = await client.get("/background")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
