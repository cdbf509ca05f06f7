"""Circuit breaker: shared closed/open/half-open state on memory and Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import Depends, FastAPI

from svc_core.errors import ConfigurationError
from svc_core.kv import KV
from svc_core.plugin import Runtime
from svc_obs import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpenError

RESET = 0.3


class UpstreamError(Exception):
    """The dependency failed."""


async def fail() -> None:
    raise UpstreamError


async def succeed() -> str:
    return "ok"


def breaker(kv: KV, name: str = "payments", **kw: Any) -> CircuitBreaker:
    kw.setdefault("failure_threshold", 3)
    kw.setdefault("reset_timeout", RESET)
    kw.setdefault("trial_timeout", 5)
    return CircuitBreaker(name, kv=kv, **kw)


async def trip(b: CircuitBreaker) -> None:
    for _ in range(b.failure_threshold):
        with pytest.raises(UpstreamError):
            await b.call(fail)


async def test_opens_after_consecutive_failures(kv: KV) -> None:
    b = breaker(kv)
    with pytest.raises(UpstreamError):
        await b.call(fail)
    with pytest.raises(UpstreamError):
        await b.call(fail)
    assert await b.call(succeed) == "ok"  # a success resets the count
    assert await b.state() == CLOSED
    await trip(b)
    assert await b.state() == OPEN
    calls = 0

    async def counted() -> None:
        nonlocal calls
        calls += 1

    with pytest.raises(CircuitOpenError) as info:
        await b.call(counted)
    assert calls == 0
    assert info.value.status_code == 503
    assert 1 <= int(info.value.headers["Retry-After"]) <= 1
    assert info.value.to_problem()["type"].endswith("#circuit-open")


async def test_half_open_lets_one_trial_through_then_closes(kv: KV) -> None:
    b = breaker(kv)
    await trip(b)
    await asyncio.sleep(RESET + 0.1)
    started = asyncio.Event()
    release = asyncio.Event()

    async def trial() -> str:
        started.set()
        await release.wait()
        return "recovered"

    task = asyncio.create_task(b.call(trial))
    await started.wait()
    assert await b.state() == HALF_OPEN
    with pytest.raises(CircuitOpenError):  # only one trial at a time
        await b.call(succeed)
    release.set()
    assert await task == "recovered"
    assert await b.state() == CLOSED
    assert await b.call(succeed) == "ok"


async def test_failed_trial_reopens(kv: KV) -> None:
    b = breaker(kv)
    await trip(b)
    await asyncio.sleep(RESET + 0.1)
    with pytest.raises(UpstreamError):
        await b.call(fail)
    assert await b.state() == OPEN
    with pytest.raises(CircuitOpenError):
        await b.call(succeed)


async def test_replicas_share_the_state(kv: KV) -> None:
    one, two = breaker(kv), breaker(kv)  # two processes' objects, one store
    other = breaker(kv, name="search")
    await trip(one)
    with pytest.raises(CircuitOpenError):
        await two.call(succeed)
    assert await other.call(succeed) == "ok"
    await asyncio.sleep(RESET + 0.1)
    assert await two.call(succeed) == "ok"  # the trial on another replica closes it
    assert await one.state() == CLOSED
    await one.reset()


async def test_ignored_exceptions_do_not_count(kv: KV) -> None:
    b = breaker(kv, ignore=(KeyError,))
    for _ in range(5):
        with pytest.raises(KeyError):
            await b.call(_missing)
    assert await b.state() == CLOSED


async def _missing() -> None:
    raise KeyError("x")


async def test_decorator_and_context_manager(kv: KV) -> None:
    b = breaker(kv, failure_threshold=2)

    @b
    async def flaky(ok: bool) -> str:
        if not ok:
            raise UpstreamError
        return "fine"

    assert await flaky(ok=True) == "fine"
    for _ in range(2):
        with pytest.raises(UpstreamError):
            await flaky(ok=False)
    with pytest.raises(CircuitOpenError):
        await flaky(ok=True)
    with pytest.raises(CircuitOpenError):
        async with b:
            pass
    with pytest.raises(ConfigurationError):
        b(lambda: None)  # type: ignore[arg-type]


async def test_dependency_answers_503_with_retry_after(build: Any, kv: KV, prom: Any) -> None:
    b = CircuitBreaker("upstream_dep", failure_threshold=2, reset_timeout=30)

    def routes(app: FastAPI, _runtime: Runtime) -> None:
        @app.get("/call", dependencies=[Depends(b.dependency)])
        async def call(fail: bool = False) -> dict[str, bool]:
            if fail:
                raise UpstreamError
            return {"ok": True}

    async with build(kv=kv, routes=routes) as (_, _, client):
        assert (await client.get("/call")).status_code == 200
        assert (await client.get("/call?fail=true")).status_code == 500
        assert (await client.get("/call?fail=true")).status_code == 500
        rejected = await client.get("/call")
        text = (await client.get("/metrics")).text
        await b.reset(kv)
    assert rejected.status_code == 503
    assert rejected.headers["content-type"] == "application/problem+json"
    assert int(rejected.headers["retry-after"]) >= 29
    assert rejected.json()["breaker"] == "upstream_dep"
    name = "circuit_breaker_transitions_total"
    assert prom.value(text, name, breaker="upstream_dep", from_state="closed", to_state="open") >= 1
    assert (
        prom.value(text, "circuit_breaker_calls_total", breaker="upstream_dep", outcome="rejected")
        >= 1
    )
    assert prom.value(text, "circuit_breaker_state", breaker="upstream_dep", state="open") == 1


async def test_default_store_comes_from_the_running_service(build: Any, kv: KV) -> None:
    b = CircuitBreaker("implicit", failure_threshold=1, reset_timeout=30)
    async with build(kv=kv):
        with pytest.raises(UpstreamError):
            await b.call(fail)
        assert await b.state() == OPEN
        await b.reset()
    with pytest.raises(ConfigurationError):
        await b.call(succeed)


def test_invalid_configuration() -> None:
    with pytest.raises(ConfigurationError):
        CircuitBreaker("x", failure_threshold=0)
    with pytest.raises(ValueError, match="brace"):
        CircuitBreaker("a{b}")
