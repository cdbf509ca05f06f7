"""Scripts: the Lua and the Python body of each script give the same results."""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from svc_core.kv import KV, KVError, LocalState, MemoryKV, RedisKV, Script, hash_tag

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


def _capped_local(state: LocalState, keys: list[str], args: list[bytes], now: float) -> Any:
    cap = int(args[0])
    current = int(state.get(keys[0]) or b"0")
    if current >= cap:
        return [0, current]
    current = state.incr(keys[0])
    if current == 1:
        state.expire(keys[0], int(args[1]) / 1000)
    return [1, current]


#: A counter that stops at a cap: the shape of a fixed-window rate limit.
CAPPED = Script(
    name="test.capped",
    lua="""
local cap = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= cap then
  return {0, current}
end
current = redis.call('INCR', KEYS[1])
if current == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {1, current}
""",
    local=_capped_local,
)


async def test_a_script_gives_the_same_results_on_every_store(kv: KV) -> None:
    results = [await kv.run(CAPPED, ["c"], [3, 60_000]) for _ in range(5)]
    assert results == [[1, 1], [1, 2], [1, 3], [0, 3], [0, 3]]
    remaining = await kv.ttl("c")
    assert remaining is not None
    assert 59 < remaining <= 60


async def test_script_keys_are_namespaced_and_args_arrive_as_bytes(kv: KV) -> None:
    echo = Script(
        name="test.echo",
        lua="return {KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]}",
        local=lambda _state, keys, args, _now: [keys[0], *args],
    )
    result = await kv.run(echo, ["k"], [5, 0.5, "é", b"\x00"])
    assert result == [(kv.namespace + "k").encode(), b"5", b"0.5", "é".encode(), b"\x00"]


@pytest.mark.parametrize(
    ("lua", "local_reply", "expected"),
    [
        ("return nil", None, None),
        ("return false", False, None),
        ("return true", True, 1),
        ("return 3.99", 3.99, 3),
        ("return -3.99", -3.99, -3),
        ("return 'text'", "text", b"text"),
        (
            "return {7, 'two', 3.5, true, false, 'after', nil, 'lost'}",
            [7, "two", 3.5, True, False, "after", None, "lost"],
            [7, b"two", 3, 1, None, b"after"],
        ),
    ],
)
async def test_replies_follow_redis_lua_conversion(
    kv: KV, lua: str, local_reply: Any, expected: Any
) -> None:
    script = Script(lua=lua, local=lambda *_: local_reply)
    assert await kv.run(script, [], []) == expected


async def test_a_failing_script_raises_kv_error_on_every_store(kv: KV) -> None:
    incr = Script(
        name="test.incr",
        lua="return redis.call('INCR', KEYS[1])",
        local=lambda state, keys, _args, _now: state.incr(keys[0]),
    )
    await kv.set("s", "not a number")
    with pytest.raises(KVError):
        await kv.run(incr, ["s"], [])

    def explode(state: LocalState, keys: list[str], args: list[bytes], now: float) -> Any:
        raise RuntimeError("boom")

    boom = Script(name="test.boom", lua="error('boom')", local=explode)
    with pytest.raises(KVError):
        await kv.run(boom, [], [])


async def test_scripts_read_the_store_clock(kv: KV) -> None:
    clock = Script(
        name="test.clock",
        lua="local t = redis.call('TIME') return tostring(t[1] + t[2] / 1000000)",
        local=lambda _state, _keys, _args, now: repr(now),
    )
    assert abs(float(await kv.run(clock, [], [])) - await kv.time()) < 2


def _move_local(state: LocalState, keys: list[str], args: list[bytes], now: float) -> Any:
    value = state.get(keys[0])
    if value is None:
        return 0
    state.set(keys[1], value)
    state.delete(keys[0])
    return 1


async def test_a_multi_key_script_on_hash_tagged_keys(kv: KV) -> None:
    move = Script(
        name="test.move",
        lua="""
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
redis.call('SET', KEYS[2], v)
redis.call('DEL', KEYS[1])
return 1
""",
        local=_move_local,
    )
    tag = hash_tag("tenant-9")
    await kv.set(f"{tag}:a", "payload")
    assert await kv.run(move, [f"{tag}:a", f"{tag}:b"], []) == 1
    assert await kv.get(f"{tag}:b") == b"payload"
    assert await kv.get(f"{tag}:a") is None
    assert await kv.run(move, [f"{tag}:a", f"{tag}:b"], []) == 0


async def test_booleans_are_refused_as_script_arguments(kv: KV) -> None:
    with pytest.raises(TypeError):
        await kv.run(CAPPED, ["c"], [True, 1])


async def _outcome(call: Callable[[], Awaitable[Any]]) -> Any:
    try:
        result = await call()
    except KVError as exc:
        return ("error", type(exc).__name__)
    if isinstance(result, float):
        return "ttl"  # remaining times differ by the microseconds between the calls
    return result


async def test_memory_and_redis_agree_on_a_random_sequence_of_operations(redis_url: str) -> None:
    """A differential test: the same 400 seeded operations, compared one by one."""
    namespace = f"svc-test:diff:{uuid.uuid4().hex}:"
    memory = MemoryKV(namespace)
    rng = random.Random(20240601)
    keys = ["a", "b", "c", "{t}:d"]
    values = ["1", "-3", "x", "", "owner-1", "owner-2"]
    owners = ["owner-1", "owner-2"]

    def operation(store: KV, op: str, key: str, value: str, owner: str, n: int) -> Any:
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "get": lambda: store.get(key),
            "set": lambda: store.set(key, value),
            "set_ttl": lambda: store.set(key, value, ttl=100),
            "set_nx": lambda: store.set(key, value, nx=True),
            "delete": lambda: store.delete(key, "b"),
            "exists": lambda: store.exists(key),
            "incr": lambda: store.incr(key, n),
            "incr_ttl": lambda: store.incr(key, n, ttl=100),
            "ttl": lambda: store.ttl(key),
            "expire": lambda: store.expire(key, 100),
            "claim": lambda: store.claim(key, owner, 100),
            "release": lambda: store.release(key, owner),
            "extend": lambda: store.extend(key, owner, 100),
            "owner": lambda: store.owner(key),
            "capped": lambda: store.run(CAPPED, [key], [2, 100_000]),
        }
        return calls[op]

    ops = ["get", "set", "set_ttl", "set_nx", "delete", "exists", "incr", "incr_ttl", "ttl"]
    ops += ["expire", "claim", "release", "extend", "owner", "capped"]
    async with RedisKV(redis_url, namespace, timeout=5) as redis_kv:
        try:
            for step in range(400):
                args = (
                    rng.choice(ops),
                    rng.choice(keys),
                    rng.choice(values),
                    rng.choice(owners),
                    rng.randint(-5, 5),
                )
                on_memory = await _outcome(operation(memory, *args))
                on_redis = await _outcome(operation(redis_kv, *args))
                assert on_memory == on_redis, f"step {step}: {args}"
        finally:
            await redis_kv.client.delete(*(namespace + k for k in keys))
