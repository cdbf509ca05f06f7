"""What only the Redis store does: deadlines, error translation, clients and scripts."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

pytest.importorskip("redis", reason="the redis extra is not installed")

import redis.asyncio as aioredis

from svc_core.kv import KV, KVError, KVUnavailableError, Script
from svc_core.kv.redis import RedisKV
from svc_core.testing.kv_fixtures import _delete_prefix

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

CLOSED_PORT_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

# Operations of every kind: plain commands, the claim, a script and server time.
OPERATIONS: dict[str, Callable[[KV], Awaitable[Any]]] = {
    "get": lambda kv: kv.get("k"),
    "set": lambda kv: kv.set("k", "v", ttl=10),
    "incr": lambda kv: kv.incr("n", ttl=10),
    "claim": lambda kv: kv.claim("job", "me", 10),
    "release": lambda kv: kv.release("job", "me"),
    "delete": lambda kv: kv.delete("k"),
    "time": lambda kv: kv.time(),
}


@pytest.mark.parametrize("op", sorted(OPERATIONS))
async def test_a_closed_port_fails_fast_with_kv_unavailable(op: str) -> None:
    async with RedisKV(CLOSED_PORT_URL) as kv:
        started = time.perf_counter()
        with pytest.raises(KVUnavailableError) as caught:
            await OPERATIONS[op](kv)
        assert time.perf_counter() - started < 2
    assert caught.value.status_code == 503
    assert caught.value.__cause__ is not None  # the redis error stays in the chain


async def test_ping_reports_an_unreachable_server_instead_of_raising() -> None:
    async with RedisKV(CLOSED_PORT_URL) as kv:
        started = time.perf_counter()
        assert await kv.ping() is False
        assert time.perf_counter() - started < 2


@pytest_asyncio.fixture
async def silent_server_url() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never answers a byte."""
    writers: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while await reader.read(4096):
            pass
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()
        await asyncio.sleep(0.01)  # let the handlers see EOF and finish


async def test_a_server_that_never_answers_times_out_within_the_deadline(
    silent_server_url: str,
) -> None:
    async with RedisKV(silent_server_url, timeout=0.2) as kv:
        started = time.perf_counter()
        with pytest.raises(KVUnavailableError, match=r"within 0\.2 s"):
            await kv.get("k")
        with pytest.raises(KVUnavailableError):
            await kv.run(Script(lua="return 1", local=lambda *_: 1), [], [])
        assert time.perf_counter() - started < 2
        assert await kv.ping() is False


async def test_many_callers_waiting_on_a_silent_server_all_fail_fast(
    silent_server_url: str,
) -> None:
    # More callers than connections: the ones queued for the pool are bounded too.
    async with RedisKV(silent_server_url, timeout=0.2, max_connections=4) as kv:
        started = time.perf_counter()
        results = await asyncio.gather(*(kv.get("k") for _ in range(50)), return_exceptions=True)
        assert time.perf_counter() - started < 2
    assert all(isinstance(r, KVUnavailableError) for r in results)


def test_the_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout"):
        RedisKV(CLOSED_PORT_URL, timeout=0)


async def test_every_key_carries_the_namespace(redis_url: str) -> None:
    namespace = f"svc-test:{uuid.uuid4().hex}:"
    async with RedisKV(redis_url, namespace) as kv:
        await kv.set("k", "mine")
        assert await kv.client.get(namespace + "k") == b"mine"
        neighbour = RedisKV(kv.client, namespace=namespace + "other:")
        assert await neighbour.get("k") is None
        await neighbour.aclose()  # a shared client stays open
        assert await kv.get("k") == b"mine"
        await kv.delete("k")


async def test_a_client_passed_in_is_shared_and_left_open(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    namespace = f"svc-test:{uuid.uuid4().hex}:"
    try:
        async with RedisKV(client, namespace) as kv:
            await kv.set("k", "é")
            # A client that decodes responses still yields bytes through the protocol.
            assert await kv.get("k") == "é".encode()
            assert await kv.owner("k") == "é"
        assert await client.ping() is True
    finally:
        await client.delete(namespace + "k")
        await client.aclose()


async def test_a_script_never_seen_by_the_server_is_loaded_on_first_use(kv: KV) -> None:
    marker = uuid.uuid4().hex  # a new script body, so its SHA is unknown to the server
    script = Script(
        name="test.fresh",
        lua=f"-- {marker}\nreturn redis.call('INCR', KEYS[1])",
        local=lambda state, keys, _args, _now: state.incr(keys[0]),
    )
    assert await kv.run(script, ["n"], []) == 1
    assert await kv.run(script, ["n"], []) == 2


async def test_a_command_the_server_rejects_is_a_kv_error_not_an_outage(kv: KV) -> None:
    await kv.set("s", "text")
    with pytest.raises(KVError) as caught:
        await kv.incr("s")
    assert not isinstance(caught.value, KVUnavailableError)


async def test_fixture_cleanup_deletes_only_its_own_prefix(redis_url: str) -> None:
    base = f"svc-test:{uuid.uuid4().hex}:"
    mine, sibling = base + "a*[b]?:", base + "ab:"  # glob characters must be literal
    async with RedisKV(redis_url, mine) as kv, RedisKV(redis_url, sibling) as other:
        for i in range(1200):  # more than one SCAN/DEL batch
            await kv.set(f"k{i}", "x")
        await other.set("k", "keep")
        await _delete_prefix(kv, mine)
        left = [key async for key in kv.client.scan_iter(match=base + "*")]
        assert left == [(sibling + "k").encode()]
        await other.delete("k")
