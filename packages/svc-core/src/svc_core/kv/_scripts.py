"""The scripts both stores use for their own compound operations.

Keeping them as :class:`~svc_core.kv.base.Script` pairs means the memory store runs
exactly the logic the Redis store runs, and the shared tests of ``release``,
``extend`` and ``incr`` double as proof that the two bodies agree.
"""

from __future__ import annotations

from svc_core.kv.base import LocalState, Script

__all__ = ["EXTEND", "INCR_TTL", "RELEASE"]


def _release_local(state: LocalState, keys: list[str], args: list[bytes], _now: float) -> int:
    if state.get(keys[0]) == args[0]:
        return int(state.delete(keys[0]))
    return 0


def _extend_local(state: LocalState, keys: list[str], args: list[bytes], _now: float) -> int:
    if state.get(keys[0]) == args[0]:
        return int(state.expire(keys[0], int(args[1]) / 1000))
    return 0


def _incr_ttl_local(state: LocalState, keys: list[str], args: list[bytes], _now: float) -> int:
    value = state.incr(keys[0], int(args[0]))
    if state.ttl(keys[0]) is None:
        state.expire(keys[0], int(args[1]) / 1000)
    return value


#: Compare-and-delete: ``KEYS[1]`` is deleted only if its value is ``ARGV[1]`` (the owner).
RELEASE = Script(
    name="kv.release",
    lua="""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
""",
    local=_release_local,
)

#: Compare-and-expire: ``KEYS[1]`` gets ``ARGV[2]`` ms to live if its value is ``ARGV[1]``.
EXTEND = Script(
    name="kv.extend",
    lua="""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
""",
    local=_extend_local,
)

#: ``INCRBY KEYS[1] ARGV[1]``, then ``PEXPIRE ARGV[2]`` ms if the key has no expiry: set
#: when the increment created the key (fixed window), or when a counter lost its expiry.
INCR_TTL = Script(
    name="kv.incr",
    lua="""
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
""",
    local=_incr_ttl_local,
)
