"""Auto-pipelining of script calls on Redis (``RedisKV(auto_pipeline=True)``, the default).

The calls made in one event-loop iteration share one round trip; each still gets its own
reply, its own error and its own timeout, and a server that forgot its scripts (restart,
failover, ``SCRIPT FLUSH``) is handled inside the batch.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import pytest
import redis.asyncio as aioredis

from svc_core.kv import KV, KVError, KVUnavailableError, LocalState, RedisKV, Script

if TYPE_CHECKING:
    from svc_core.testing import RedisServer

INCR = Script(
    lua="return redis.call('INCR', KEYS[1])",
    local=lambda state, keys, _args, _now: state.incr(keys[0], 1),
    name="test-incr",
)


def _fail_if_bad(state: LocalState, keys: list[str], args: list[bytes], now: float) -> int:
    if args[0] == b"bad":
        raise KVError("boom")
    return 1


FAIL_IF_BAD = Script(
    lua="if ARGV[1] == 'bad' then return redis.error_reply('boom') end return 1",
    local=_fail_if_bad,
    name="test-fail-if-bad",
)


async def test_concurrent_calls_each_get_their_own_reply(kv: KV) -> None:
    replies = await asyncio.gather(*(kv.run(INCR, ["n"], []) for _ in range(500)))
    assert sorted(replies) == list(range(1, 501))


async def _connections_named(url: str, name: str) -> int:
    async with aioredis.Redis.from_url(url) as admin:
        clients = await admin.client_list()
    return sum(1 for c in clients if c.get("name") == name)


@pytest.mark.parametrize("auto_pipeline", [True, False], ids=["pipelined", "one-by-one"])
async def test_a_burst_of_calls_shares_one_connection(redis_url: str, auto_pipeline: bool) -> None:
    name = f"svc-pipe-{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in redis_url else "?"
    namespace = f"svc-test-pipe:{uuid.uuid4().hex}:"
    async with RedisKV(
        f"{redis_url}{sep}client_name={name}", namespace, timeout=5, auto_pipeline=auto_pipeline
    ) as kv:
        replies = await asyncio.gather(*(kv.run(INCR, ["n"], []) for _ in range(200)))
        assert sorted(replies) == list(range(1, 201))
        connections = await _connections_named(redis_url, name)
        await kv.delete("n")
    if auto_pipeline:
        assert connections == 1  # 200 calls, one connection, one round trip
    else:
        assert connections > 1  # each call checks out a connection of its own


async def test_an_error_fails_only_its_own_call(kv: KV) -> None:
    results = await asyncio.gather(
        *(kv.run(FAIL_IF_BAD, ["k"], ["bad" if i == 7 else "ok"]) for i in range(20)),
        return_exceptions=True,
    )
    assert isinstance(results[7], KVError)
    assert not isinstance(results[7], KVUnavailableError)  # a rejected call, not an outage
    assert [r for i, r in enumerate(results) if i != 7] == [1] * 19


async def test_a_caller_that_gives_up_does_not_disturb_the_others(kv: KV) -> None:
    tasks = [asyncio.create_task(kv.run(INCR, ["n"], [])) for _ in range(50)]
    tasks[10].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[10], asyncio.CancelledError)
    others = sorted(r for i, r in enumerate(results) if i != 10)
    assert len(others) == 49
    assert len(set(others)) == 49  # every caller still got its own reply


async def test_scripts_are_reloaded_inside_a_batch(redis_server: RedisServer) -> None:
    async with RedisKV(redis_server.url, "pipe:", timeout=5) as kv:
        assert await kv.run(INCR, ["n"], []) == 1
        assert redis_server.command("SCRIPT", "FLUSH").startswith(b"+OK")
        replies = await asyncio.gather(*(kv.run(INCR, ["n"], []) for _ in range(100)))
        assert sorted(replies) == list(range(2, 102))


async def test_a_dead_server_fails_every_queued_call_as_unavailable(
    redis_server: RedisServer,
) -> None:
    async with RedisKV(redis_server.url, "pipe:", timeout=0.5) as kv:
        assert await kv.run(INCR, ["n"], []) == 1
        redis_server.kill()
        results = await asyncio.gather(
            *(kv.run(INCR, ["n"], []) for _ in range(30)), return_exceptions=True
        )
        assert all(isinstance(r, KVUnavailableError) for r in results), results
        redis_server.start()  # same port, empty data: the next batch reconnects
        assert await kv.run(INCR, ["n"], []) == 1
