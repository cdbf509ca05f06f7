"""Atomic scripts of the key-value store (Lua on Redis, Python on memory).

With records and claims in the same key-value store, a lookup-or-claim and a
store-and-release each take one round trip. The claim they write is exactly a svc-core
claim (``SET lock owner NX PX lease``), so ``kv.extend``, ``kv.release`` and ``kv.owner``
work on it. Both keys of a call share the scope's hash tag (Redis Cluster).
"""

from __future__ import annotations

from typing import Any

from svc_core.kv import LocalState, Script

__all__ = ["BEGIN", "COMPLETE"]

_BEGIN_LUA = """
local rec = redis.call('GET', KEYS[1])
if rec then return {1, rec} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2, ''} end
local holder = redis.call('GET', KEYS[2])
if holder then return {3, holder} end
return {4, ''}
"""


def _begin_local(state: LocalState, keys: list[str], args: list[bytes], _now: float) -> Any:
    rec = state.get(keys[0])
    if rec is not None:
        return [1, rec]
    if not state.exists(keys[1]):
        state.set(keys[1], args[0], ttl=int(args[1]) / 1000)
        return [2, b""]
    holder = state.get(keys[1])
    return [3, holder] if holder is not None else [4, b""]


#: KEYS: record, claim. ARGV: owner, lease ms. Reply: [1, record] | [2, ""] claimed |
#: [3, holder] held by another owner | [4, ""] (vanished meanwhile: try again).
BEGIN = Script(lua=_BEGIN_LUA, local=_begin_local, name="idempotency-begin")

_COMPLETE_LUA = """
local written = 0
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3]) then written = 1 end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return written
"""


def _complete_local(state: LocalState, keys: list[str], args: list[bytes], _now: float) -> Any:
    written = 0
    if not state.exists(keys[0]):
        state.set(keys[0], args[1], ttl=int(args[2]) / 1000)
        written = 1
    if state.get(keys[1]) == args[0]:
        state.delete(keys[1])
    return written


#: KEYS: record, claim. ARGV: owner, record, ttl ms. Stores the record unless one exists,
#: then releases the claim if ``owner`` still holds it. Reply: 1 when written.
COMPLETE = Script(lua=_COMPLETE_LUA, local=_complete_local, name="idempotency-complete")
