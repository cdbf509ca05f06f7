"""RedisKV's multiplexed connection (svc_core.kv._resp) on a test-owned redis-server.

The shared memory|redis suite and test_kv_pipeline.py already run every operation through
it; these cases cover what only a URL-built channel does: authentication and database
selection from the URL, the per-call deadline with a stuck server, and the fallback to
redis-py for URL options it does not handle.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from svc_core.kv import KVUnavailableError, RedisKV, Script
from svc_core.testing import RedisServer

INCR = Script(lua="return redis.call('INCR', KEYS[1])", local=lambda *_: None, name="incr")


async def test_password_and_database_come_from_the_url(redis_server: RedisServer) -> None:
    assert redis_server.command("CONFIG", "SET", "requirepass", "s3cret").startswith(b"+OK")
    url = f"redis://:s3cret@127.0.0.1:{redis_server.port}/3"
    async with RedisKV(url, "resp:", timeout=2) as kv:
        assert await kv.run(INCR, ["n"], []) == 1
        assert await kv.get("n") == b"1"
    async with aioredis.from_url(url) as db3:
        assert await db3.get("resp:n") == b"1"
    async with aioredis.from_url(url.replace("/3", "/0")) as db0:
        assert await db0.get("resp:n") is None


async def test_a_wrong_password_is_an_outage_not_a_hang(redis_server: RedisServer) -> None:
    assert redis_server.command("CONFIG", "SET", "requirepass", "s3cret").startswith(b"+OK")
    url = f"redis://:wrong@127.0.0.1:{redis_server.port}/0"
    async with RedisKV(url, "resp:", timeout=1) as kv:
        start = time.monotonic()
        with pytest.raises(KVUnavailableError):
            await kv.run(INCR, ["n"], [])
        assert time.monotonic() - start < 3


async def test_a_stuck_server_times_out_and_later_replies_stay_with_their_calls(
    redis_server: RedisServer,
) -> None:
    async with RedisKV(redis_server.url, "resp:", timeout=0.3) as kv:
        assert await kv.run(INCR, ["n"], []) == 1
        async with aioredis.from_url(redis_server.url) as admin:
            await admin.execute_command("CLIENT", "PAUSE", "900", "ALL")
            start = time.monotonic()
            results = await asyncio.gather(
                *(kv.run(INCR, ["n"], []) for _ in range(5)), return_exceptions=True
            )
            assert all(isinstance(r, KVUnavailableError) for r in results), results
            assert time.monotonic() - start < 0.8  # the deadline, not the pause
            await asyncio.sleep(1.0)  # the pause is over
        # A new connection; whatever the abandoned calls did, every reply belongs to
        # its own call: INCR answers the value GET then reads.
        value = await kv.run(INCR, ["n"], [])
        assert await kv.get("n") == str(value).encode()
        assert 2 <= value <= 7


async def test_url_options_it_does_not_handle_go_through_redis_py(
    redis_server: RedisServer,
) -> None:
    url = f"{redis_server.url}?health_check_interval=5"
    async with RedisKV(url, "resp:", timeout=2) as kv:
        assert kv._channel is None
        assert await kv.run(INCR, ["n"], []) == 1
    async with RedisKV(redis_server.url, "resp:", timeout=2) as kv:
        assert kv._channel is not None
        assert await kv.run(INCR, ["n"], []) == 2
