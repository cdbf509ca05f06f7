"""Enqueue → run → state, retries → DLQ, poison messages, context, replay/purge (both profiles)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import BaseModel

from svc_core.context import Principal, get_request_id, get_tenant_id, scope
from svc_jobs import Jobs, JobsUnavailableError, RetryPolicy, UnknownJobError
from svc_jobs.registry import JobRegistry

if TYPE_CHECKING:
    from conftest import Env  # type: ignore[import-not-found]


GONE = b'{"task_id":"x","task_name":"t.gone","labels":{},"args":[],"kwargs":{}}'


class Payload(BaseModel):
    n: int


@asynccontextmanager
async def running(jobs: Jobs) -> AsyncIterator[None]:
    """Start the jobs runtime; on Redis also a worker loop in this process."""
    await jobs.start()
    if jobs.embedded:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(jobs.work(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def test_enqueue_runs_and_tracks_state(env: Env) -> None:
    reg = JobRegistry()
    seen: list[tuple[int, str | None, str | None]] = []

    @reg.job("t.add", track=True)
    async def add(payload: Payload) -> dict[str, int]:
        seen.append((payload.n, get_tenant_id(), get_request_id()))
        return {"double": payload.n * 2}

    jobs = env.make(reg)
    async with running(jobs):
        with scope(tenant_id="t1", request_id="req-1", principal=Principal("u1")):
            job_id = await jobs.enqueue("t.add", Payload(n=21))

        async def done() -> bool:
            state = await jobs.get(job_id, "t1")
            return state is not None and state.status == "succeeded"

        await wait_for(done)
    state = await jobs.get(job_id, "t1")
    assert state is not None
    assert state.to_dict() == {
        "id": job_id,
        "status": "succeeded",
        "attempts": 1,
        "result": {"double": 42},
    }
    assert seen == [(21, "t1", "req-1")]
    # Another tenant does not see it.
    assert await jobs.get(job_id, "t2") is None


async def test_payload_is_validated_at_enqueue(env: Env) -> None:
    reg = JobRegistry()

    @reg.job("t.typed")
    async def typed(payload: Payload) -> None:
        return None

    jobs = env.make(reg)
    await jobs.start()
    with pytest.raises(ValueError, match="n"):
        await jobs.enqueue("t.typed", {"n": "not a number"})
    with pytest.raises(UnknownJobError):
        await jobs.enqueue("t.nope", {})


async def test_retries_with_backoff_then_dead_letter_then_replay(env: Env) -> None:
    reg = JobRegistry()
    stamps: list[float] = []
    fail = {"on": True}

    @reg.job("t.flaky", max_attempts=4, backoff_base=0.2, backoff_max=5.0, jitter=0.5, track=True)
    async def flaky(payload: Payload) -> str:
        stamps.append(time.monotonic())
        if fail["on"]:
            raise ConnectionError("transient")
        return "ok"

    jobs = env.make(reg)
    async with running(jobs):
        with scope(tenant_id="t1"):
            job_id = await jobs.enqueue("t.flaky", Payload(n=1))

        async def dead() -> bool:
            state = await jobs.get(job_id, "t1")
            return state is not None and state.status == "dead"

        await wait_for(dead)
        assert len(stamps) == 4
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        # Exponential with jitter in [d/2, d] for d = 0.2, 0.4, 0.8 (loose: + scheduling slack).
        for gap, d in zip(gaps, (0.2, 0.4, 0.8), strict=True):
            assert d * 0.5 - 0.02 <= gap <= d + 1.5
        letters = await jobs.dead_letters()
        assert len(letters) == 1
        entry = letters[0]
        assert (entry.job_id, entry.name, entry.attempts, entry.reason) == (
            job_id,
            "t.flaky",
            4,
            "exhausted",
        )
        assert entry.error == "ConnectionError: transient"
        assert entry.tenant_id == "t1"
        assert '"n":1' in entry.message.replace(" ", "")

        fail["on"] = False
        assert await jobs.replay() == 1
        assert await jobs.dead_letters() == []

        async def succeeded() -> bool:
            state = await jobs.get(job_id, "t1")
            return state is not None and state.status == "succeeded"

        await wait_for(succeeded)
    assert len(stamps) == 5


async def test_non_retryable_error_goes_to_dlq_at_once(env: Env) -> None:
    reg = JobRegistry()
    calls: list[int] = []

    @reg.job("t.strict", max_attempts=5, backoff_base=0.01, retry_on=(ConnectionError,))
    async def strict(payload: Payload) -> None:
        calls.append(payload.n)
        raise ValueError("bad input")

    jobs = env.make(reg)
    async with running(jobs):
        await jobs.enqueue("t.strict", Payload(n=3))

        async def lettered() -> bool:
            return len(await jobs.dead_letters()) == 1

        await wait_for(lettered)
    entry = (await jobs.dead_letters())[0]
    assert (entry.reason, entry.attempts) == ("not_retryable", 1)
    assert calls == [3]
    assert await jobs.purge() == 1
    assert await jobs.dead_letters() == []


async def test_poison_messages_go_to_dlq_and_the_worker_goes_on(env: Env) -> None:
    """JQ-07: undecodable payload and unknown task name → DLQ at once; next job still runs."""
    reg = JobRegistry()
    done: list[int] = []

    @reg.job("t.ok")
    async def ok(payload: Payload) -> None:
        done.append(payload.n)

    jobs = env.make(reg)
    async with running(jobs):
        if env.production:
            from redis.asyncio import Redis

            client = Redis.from_url(env.settings.redis_url or "")
            try:
                await client.xadd(jobs.stream, {b"data": b"\xff\x00 not json"})
                await client.xadd(
                    jobs.stream,
                    {b"data": GONE},
                )
            finally:
                await client.aclose()
        else:
            receiver = jobs.broker.receiver
            await receiver.callback(b"\xff\x00 not json")
            await receiver.callback(
                b'{"task_id":"x","task_name":"t.gone","labels":{},"args":[],"kwargs":{}}'
            )
        await jobs.enqueue("t.ok", Payload(n=7))

        async def settled() -> bool:
            return done == [7] and len(await jobs.dead_letters()) == 2

        await wait_for(settled)
    reasons = sorted(e.reason for e in await jobs.dead_letters())
    assert reasons == ["undecodable", "unknown_task"]
    # Poison cannot be replayed: it stays.
    assert await jobs.replay() == 0
    if env.production:
        assert (await jobs.stats())["depth"] == 0


async def test_job_whose_workers_keep_dying_is_dead_lettered(env: Env) -> None:
    """A job that takes its worker down every time (segfault, OOM kill) stops after
    ``max_deliveries`` lost deliveries: it goes to the DLQ as ``worker_lost`` instead of
    being reclaimed by worker after worker for ever. One lost delivery fewer still runs."""
    if not env.production:
        pytest.skip("an in-process queue dies with its worker: nothing is redelivered")
    from redis.asyncio import Redis

    reg = JobRegistry()
    ran: list[int] = []

    @reg.job("t.crashy", track=True)
    async def crashy(payload: Payload) -> None:
        ran.append(payload.n)

    producer = env.make(reg, max_deliveries=3)
    await producer.start()
    with scope(tenant_id="t1"):
        survivor = await producer.enqueue("t.crashy", Payload(n=1))  # 2 workers lost
        doomed = await producer.enqueue("t.crashy", Payload(n=2))  # 3 workers lost
    client = Redis.from_url(env.settings.redis_url or "")
    try:
        # Workers that read the jobs and died without acknowledging them: every read
        # and every reclaim counts one delivery.
        read = await client.xreadgroup("workers", "dead-1", {producer.stream: ">"}, count=10)
        ids = [entry_id for entry_id, _ in read[0][1]]
        assert len(ids) == 2
        await client.xclaim(producer.stream, "workers", "dead-2", 0, ids)
        await client.xclaim(producer.stream, "workers", "dead-3", 0, ids[1:])
    finally:
        await client.aclose()
    await asyncio.sleep(0.4)  # idle past the worker's visibility timeout
    worker = env.make(reg, max_deliveries=3, visibility_timeout=0.3)
    async with running(worker):

        async def settled() -> bool:
            state = await worker.get(doomed, "t1")
            return ran == [1] and state is not None and state.status == "dead"

        await wait_for(settled)
    letters = await worker.dead_letters()
    assert [(e.reason, e.name) for e in letters] == [("worker_lost", "t.crashy")]
    assert "delivered 4 times" in (letters[0].error or "")
    survived = await worker.get(survivor, "t1")
    assert survived is not None
    assert survived.status == "succeeded"
    assert (await worker.stats())["depth"] == 0
    # Once the cause is fixed, the job can be replayed like any dead letter.
    async with running(worker):
        assert await worker.replay() == 1
        await wait_for(lambda: _ready(ran == [1, 2]))


async def test_delay_and_unique_job_id(env: Env) -> None:
    """JQ-03 (ETA, unique id): the ETA job runs once after its delay; a unique id enqueues once."""
    reg = JobRegistry()
    runs: list[float] = []

    @reg.job("t.eta")
    async def eta(payload: Payload) -> None:
        runs.append(time.monotonic())

    jobs = env.make(reg, visibility_timeout=0.5)
    async with running(jobs):
        start = time.monotonic()
        await jobs.enqueue("t.eta", Payload(n=1), delay=1.5)
        ids = await asyncio.gather(
            *(jobs.enqueue("t.eta", Payload(n=2), job_id="same", unique=True) for _ in range(5))
        )
        assert set(ids) == {"same"}
        await wait_for(lambda: _ready(len(runs) >= 2))
        await asyncio.sleep(1.0)  # > visibility timeout: nothing is redelivered
    assert len(runs) == 2
    assert max(runs) - start >= 1.4


async def _ready(value: bool) -> bool:
    return value


async def test_long_job_keeps_its_lease(env: Env) -> None:
    """JQ-03: a job running 3x the visibility timeout is not run twice (heartbeat)."""
    reg = JobRegistry()
    active = {"now": 0, "max": 0, "runs": 0}

    @reg.job("t.long")
    async def long(payload: Payload) -> None:
        active["now"] += 1
        active["runs"] += 1
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(1.5)
        active["now"] -= 1

    jobs = env.make(reg, visibility_timeout=0.5)
    other = env.make(reg, visibility_timeout=0.5)
    async with running(jobs), running(other) if env.production else contextlib.nullcontext():
        await jobs.enqueue("t.long", Payload(n=1))
        await wait_for(lambda: _ready(active["runs"] >= 1))
        await wait_for(lambda: _ready(active["now"] == 0))
        await asyncio.sleep(0.6)
    assert active == {"now": 0, "max": 1, "runs": 1}


async def test_enqueue_while_redis_is_down_is_503(env: Env) -> None:
    """JQ-08 (library level): nothing is reported as enqueued; tracked state is rolled back."""
    if not env.production:
        pytest.skip("the in-memory broker cannot be down")
    from svc_core.settings import SvcSettings

    reg = JobRegistry()

    @reg.job("t.any", track=True)
    async def anyjob(payload: Payload) -> None:
        return None

    env.settings = SvcSettings(
        database_url=env.settings.database_url, redis_url="redis://127.0.0.1:1/0", redis_prefix="x:"
    )
    jobs = env.make(reg)
    await jobs.start()
    with scope(tenant_id="t1"), pytest.raises(JobsUnavailableError) as info:
        await jobs.enqueue("t.any", Payload(n=1), job_id="j-down")
    assert info.value.status_code == 503
    assert await jobs.get("j-down", "t1") is None


def test_retry_policy_delays_are_exponential_with_jitter() -> None:
    policy = RetryPolicy(max_attempts=6, backoff_base=1.0, backoff_max=10.0, jitter=0.5)
    assert [policy.delay(a, rng=lambda: 1.0) for a in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert [policy.delay(a, rng=lambda: 0.0) for a in range(1, 4)] == [0.5, 1.0, 2.0]
    assert policy.retries(ValueError())
    assert not RetryPolicy(retry_on=(KeyError,)).retries(ValueError())


async def rolled_back(env: Env, jobs: Jobs) -> None:
    """Enqueue on commit inside a transaction that then fails."""
    from sqlalchemy import text

    async with env.database.transaction() as session:
        await session.execute(text("SELECT 1"))
        jobs.enqueue_on_commit(session, "t.after", Payload(n=1))
        raise RuntimeError("abort")


async def test_enqueue_on_commit(env: Env) -> None:
    """The job is enqueued after the commit, never after a rollback."""
    from sqlalchemy import text

    reg = JobRegistry()
    ran: list[int] = []

    @reg.job("t.after")
    async def after(payload: Payload) -> None:
        ran.append(payload.n)

    jobs = env.make(reg)
    async with running(jobs):
        with pytest.raises(RuntimeError, match="abort"):
            await rolled_back(env, jobs)
        async with env.database.transaction() as session:
            await session.execute(text("SELECT 1"))
            job_id = jobs.enqueue_on_commit(session, "t.after", Payload(n=2))
            assert ran == []  # not before the commit
        assert job_id
        await wait_for(lambda: _ready(ran == [2]))
        await asyncio.sleep(0.3)
    assert ran == [2]
    with pytest.raises(UnknownJobError):
        async with env.database.transaction() as session:
            jobs.enqueue_on_commit(session, "t.nope")
