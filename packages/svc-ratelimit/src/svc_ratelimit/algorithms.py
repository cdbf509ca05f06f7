"""The algorithms, each one :class:`~svc_core.kv.Script` (a Lua body and its Python twin).

Every decision is one atomic step: one ``EVALSHA`` on Redis (server time from
``redis.call('TIME')``), one locked call on the memory store (the store clock). A policy
with several limits (``"10/second;1000/hour"``) is decided by *one* call over one key per
limit: the request is admitted only if every limit admits it, and only then is it counted
against all of them (a rejected request costs nothing).

Calling convention of the rate scripts:

* ``KEYS``: one key per limit (all with the same hash tag, so Cluster accepts them);
* ``ARGV``: ``cost, q1, w1, q2, w2, …`` with windows in milliseconds;
* reply: ``[allowed, r1, t1, retry1, r2, t2, retry2, …]``: ``allowed`` is 1 or 0; per
  limit the remaining quota, the milliseconds until it resets and, when that limit
  refused the request, the milliseconds until a retry can succeed (else 0).

State lives in one string per key (no hashes: the memory store has strings only) and
arithmetic is done on doubles in both bodies, in the same order, so they agree bit for
bit. Times are whole milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal, TypeAlias

from svc_core.kv import LocalBody, LocalState, Script

__all__ = [
    "ALGORITHMS",
    "CONCURRENCY_ACQUIRE",
    "CONCURRENCY_RELEASE",
    "CORES",
    "FIXED_WINDOW",
    "GCRA",
    "SLIDING_WINDOW",
    "Algorithm",
]

#: The names accepted by ``SVC_RATELIMIT__ALGORITHM`` and :class:`~svc_ratelimit.Policy`.
Algorithm = Literal["fixed_window", "sliding_window", "gcra"]

_NOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local n = #KEYS
local reply = {1}
"""


def _now_ms(now: float) -> int:
    # The store clock in whole milliseconds, as the Lua preamble computes from TIME.
    return math.floor(now * 1000)


def _limits(args: list[bytes]) -> list[tuple[float, float]]:
    return [(float(args[i]), float(args[i + 1])) for i in range(1, len(args), 2)]


#: One key's state as numbers (``None``: no state): fixed window ``(start, count)``,
#: sliding window ``(index, current, previous)``, GCRA ``(tat,)``.
State: TypeAlias = tuple[float, ...]
#: An algorithm's arithmetic, shared by the memory twin of its Lua body and by the
#: native in-process store (:class:`~svc_ratelimit.local.LocalRates`):
#: ``(states, now_ms, cost, limits) -> (reply, writes)`` where ``limits`` holds
#: ``(quota, window_ms)`` pairs and ``writes`` (``None`` when refused) the new state and
#: its time to live in milliseconds per key.
Core: TypeAlias = Callable[
    [Sequence["State | None"], int, float, Sequence[tuple[float, float]]],
    tuple[list[int], "list[tuple[State, float]] | None"],
]


# ------------------------------------------------------------------ fixed window
# Value "start:count"; the window starts at the first hit after the previous one ended.

_FIXED_LUA = (
    _NOW_LUA
    + """
local starts, counts = {}, {}
for i = 1, n do
  local q, w = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local start, count = now, 0
  local v = redis.call('GET', KEYS[i])
  if v then
    local s, c = string.match(v, '^(%d+):(%d+)$')
    if s and tonumber(s) + w > now then start, count = tonumber(s), tonumber(c) end
  end
  starts[i], counts[i] = start, count
  if count + cost > q then reply[1] = 0 end
end
for i = 1, n do
  local q, w = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local start, count = starts[i], counts[i]
  local reset = start + w - now
  local retry = 0
  if reply[1] == 1 then
    count = count + cost
    redis.call('SET', KEYS[i], string.format('%d:%d', start, count), 'PX', reset)
  elseif count + cost > q then
    retry = reset
  end
  reply[3 * i - 1] = math.max(q - count, 0)
  reply[3 * i] = reset
  reply[3 * i + 1] = retry
end
return reply
"""
)


def _fixed_core(
    states: Sequence[State | None], now: int, cost: float, limits: Sequence[tuple[float, float]]
) -> tuple[list[int], list[tuple[State, float]] | None]:
    allowed = True
    found: list[tuple[float, float]] = []
    for state, (q, w) in zip(states, limits, strict=True):
        start, count = float(now), 0.0
        if state is not None and state[0] + w > now:
            start, count = float(state[0]), float(state[1])
        found.append((start, count))
        if count + cost > q:
            allowed = False
    reply = [int(allowed)]
    writes: list[tuple[State, float]] | None = [] if allowed else None
    for (q, w), (start, seen) in zip(limits, found, strict=True):
        reset = start + w - now
        retry = 0.0
        count = seen
        if writes is not None:
            count += cost
            writes.append(((int(start), int(count)), reset))
        elif count + cost > q:
            retry = reset
        reply += [int(max(q - count, 0)), int(reset), int(retry)]
    return reply, writes


def _parse_fixed(value: bytes) -> State | None:
    s, _, c = value.partition(b":")
    return (int(s), int(c)) if s.isdigit() and c.isdigit() else None


def _encode_fixed(state: State) -> str:
    return f"{int(state[0])}:{int(state[1])}"


# ------------------------------------------------------------ sliding window counter
# Value "index:current:previous" for windows aligned on multiples of w; the estimate is
# previous * (unelapsed share of the window) + current (Cloudflare's sliding counter).

_SLIDING_LUA = (
    _NOW_LUA
    + """
local cur, prev, idxs = {}, {}, {}
for i = 1, n do
  local q, w = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local idx = math.floor(now / w)
  local c, p = 0, 0
  local v = redis.call('GET', KEYS[i])
  if v then
    local si, sc, sp = string.match(v, '^(%d+):(%d+):(%d+)$')
    if si then
      si = tonumber(si)
      if si == idx then c, p = tonumber(sc), tonumber(sp)
      elseif si == idx - 1 then c, p = 0, tonumber(sc) end
    end
  end
  cur[i], prev[i], idxs[i] = c, p, idx
  local elapsed = now - idx * w
  if p * (w - elapsed) / w + c + cost > q then reply[1] = 0 end
end
for i = 1, n do
  local q, w = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local c, p, idx = cur[i], prev[i], idxs[i]
  local elapsed = now - idx * w
  local retry = 0
  if reply[1] == 1 then
    c = c + cost
    redis.call('SET', KEYS[i], string.format('%d:%d:%d', idx, c, p), 'PX', 2 * w - elapsed)
  elseif p * (w - elapsed) / w + c + cost > q then
    if c + cost <= q then
      retry = math.ceil(w - (q - cost - c) * w / p - elapsed)
    else
      retry = w - elapsed + math.max(math.ceil(w - (q - cost) * w / c), 0)
    end
    retry = math.max(retry, 1)
  end
  reply[3 * i - 1] = math.max(math.floor(q - (p * (w - elapsed) / w + c)), 0)
  reply[3 * i] = w - elapsed
  reply[3 * i + 1] = retry
end
return reply
"""
)


def _sliding_core(
    states: Sequence[State | None], now: int, cost: float, limits: Sequence[tuple[float, float]]
) -> tuple[list[int], list[tuple[State, float]] | None]:
    # Written for speed (it runs on every request of the embedded profile). Every value
    # is a whole number of milliseconds or units held in a double (far below 2**53), so
    # the arithmetic is exact and follows the Lua body's order where it divides.
    allowed = True
    found = []
    for i, (q, w) in enumerate(limits):
        state = states[i]
        idx = int(now / w)  # floor: now >= 0
        left = w - (now - idx * w)  # the window's unelapsed part
        if state is None:
            c = p = 0.0
        elif state[0] == idx:
            c, p = state[1], state[2]
        elif state[0] == idx - 1:
            c, p = 0.0, state[1]
        else:
            c = p = 0.0
        estimate = p * left / w + c
        found.append((q, w, c, p, idx, left, estimate))
        if estimate + cost > q:
            allowed = False
    if allowed:
        reply = [1]
        writes: list[tuple[State, float]] = []
        for q, w, seen, p, idx, left, _ in found:
            c = seen + cost
            writes.append(((idx, c, p), w + left))
            remaining = math.floor(q - (p * left / w + c))
            reply += (remaining if remaining > 0 else 0, int(left), 0)
        return reply, writes
    reply = [0]
    for q, w, c, p, _, left, estimate in found:
        retry = 0
        if estimate + cost > q:
            if c + cost <= q:
                elapsed = w - left  # exact; the Lua body's order below
                retry = math.ceil(w - (q - cost - c) * w / p - elapsed)
            else:
                retry = int(left) + max(math.ceil(w - (q - cost) * w / c), 0)
            retry = max(retry, 1)
        remaining = math.floor(q - estimate)
        reply += (remaining if remaining > 0 else 0, int(left), retry)
    return reply, None


def _parse_sliding(value: bytes) -> State | None:
    parts = value.split(b":")
    if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit() and parts[2].isdigit():
        return (int(parts[0]), float(parts[1]), float(parts[2]))
    return None


def _encode_sliding(state: State) -> str:
    return f"{int(state[0])}:{int(state[1])}:{int(state[2])}"


# ------------------------------------------------------------------ GCRA (token bucket)
# Value: the theoretical arrival time (TAT) in ms with 3 decimals. Emission interval
# T = w / q; a burst of q fits (tolerance w - T). Compared with a 1 µs slack so that
# the rounding of the stored TAT never refuses the last request of a burst.

_GCRA_LUA = (
    _NOW_LUA
    + """
local tats = {}
for i = 1, n do
  local q, w = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '') or now
  if tat < now then tat = now end
  tats[i] = tat
  if tat + cost * (w / q) - now > w + 0.001 then reply[1] = 0 end
end
for i = 1, n do
  local q, w = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local t = w / q
  local tat = tats[i]
  local new_tat = tat + cost * t
  local retry = 0
  if reply[1] == 1 then
    tat = new_tat
    redis.call('SET', KEYS[i], string.format('%.3f', tat), 'PX', math.max(math.ceil(tat - now), 1))
  elseif new_tat - now > w + 0.001 then
    retry = math.max(math.ceil(new_tat - now - w), 1)
  end
  reply[3 * i - 1] = math.max(math.floor((w - (tat - now)) / t + 0.000001), 0)
  reply[3 * i] = math.ceil(tat - now)
  reply[3 * i + 1] = retry
end
return reply
"""
)


def _gcra_core(
    states: Sequence[State | None], now_ms: int, cost: float, limits: Sequence[tuple[float, float]]
) -> tuple[list[int], list[tuple[State, float]] | None]:
    now = float(now_ms)
    allowed = True
    tats: list[float] = []
    for state, (q, w) in zip(states, limits, strict=True):
        tat = state[0] if state is not None else now
        tat = max(tat, now)
        tats.append(tat)
        if tat + cost * (w / q) - now > w + 0.001:
            allowed = False
    reply = [int(allowed)]
    writes: list[tuple[State, float]] | None = [] if allowed else None
    for (q, w), tat0 in zip(limits, tats, strict=True):
        t = w / q
        tat = tat0
        new_tat = tat + cost * t
        retry = 0
        if writes is not None:
            # Stored rounded as Lua's string.format('%.3f') stores it (printf rounding),
            # so the next decision reads the same number on every store.
            tat = new_tat
            writes.append(((float("%.3f" % tat),), max(math.ceil(tat - now), 1)))  # noqa: UP031
        elif new_tat - now > w + 0.001:
            retry = max(math.ceil(new_tat - now - w), 1)
        remaining = max(math.floor((w - (tat - now)) / t + 0.000001), 0)
        reply += [int(remaining), math.ceil(tat - now), int(retry)]
    return reply, writes


def _parse_gcra(value: bytes) -> State | None:
    try:
        return (float(value),)
    except ValueError:
        return None


def _encode_gcra(state: State) -> str:
    return "%.3f" % state[0]  # noqa: UP031 - the exact twin of Lua's string.format


def _twin(
    core: Core, parse: Callable[[bytes], State | None], encode: Callable[[State], str]
) -> LocalBody:
    """The memory store's body of a rate script: its bytes values through ``core``."""

    def local(state: LocalState, keys: list[str], args: list[bytes], now_s: float) -> list[int]:
        states = []
        for key in keys:
            value = state.get(key)
            states.append(parse(value) if value is not None else None)
        reply, writes = core(states, _now_ms(now_s), float(args[0]), _limits(args))
        for key, (new, ttl) in zip(keys, writes or (), strict=False):
            state.set(key, encode(new), ttl=ttl / 1000)
        return reply

    return local


#: The arithmetic of each algorithm by name (see :data:`Core`).
CORES: dict[str, Core] = {
    "fixed_window": _fixed_core,
    "sliding_window": _sliding_core,
    "gcra": _gcra_core,
}

FIXED_WINDOW = Script(
    name="ratelimit.fixed_window",
    lua=_FIXED_LUA,
    local=_twin(_fixed_core, _parse_fixed, _encode_fixed),
)
SLIDING_WINDOW = Script(
    name="ratelimit.sliding_window",
    lua=_SLIDING_LUA,
    local=_twin(_sliding_core, _parse_sliding, _encode_sliding),
)
GCRA = Script(
    name="ratelimit.gcra", lua=_GCRA_LUA, local=_twin(_gcra_core, _parse_gcra, _encode_gcra)
)

#: The rate algorithms by name.
ALGORITHMS: dict[str, Script] = {
    "fixed_window": FIXED_WINDOW,
    "sliding_window": SLIDING_WINDOW,
    "gcra": GCRA,
}

# ------------------------------------------------------------------ concurrency
# Value: the number of requests in flight, with a lease so that a crashed process's
# slots come back after ARGV[2] ms. ARGV: max, lease_ms. Reply: [acquired, in_flight].


def _acquire_local(state: LocalState, keys: list[str], args: list[bytes], _now: float) -> list[int]:
    raw = state.get(keys[0])
    count = int(raw) if raw is not None and raw.isdigit() else 0
    if count + 1 > int(args[0]):
        return [0, count]
    count = state.incr(keys[0])
    state.expire(keys[0], int(args[1]) / 1000)
    return [1, count]


CONCURRENCY_ACQUIRE = Script(
    name="ratelimit.concurrency_acquire",
    lua="""
local c = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if c + 1 > tonumber(ARGV[1]) then return {0, c} end
c = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, c}
""",
    local=_acquire_local,
)


def _release_local(state: LocalState, keys: list[str], _args: list[bytes], _now: float) -> int:
    raw = state.get(keys[0])
    if raw is None or not raw.isdigit() or int(raw) <= 0:
        return 0
    left = state.incr(keys[0], -1)
    if left <= 0:
        state.delete(keys[0])
    return left


CONCURRENCY_RELEASE = Script(
    name="ratelimit.concurrency_release",
    lua="""
local c = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if c <= 0 then return 0 end
local left = redis.call('DECR', KEYS[1])
if left <= 0 then redis.call('DEL', KEYS[1]) end
return left
""",
    local=_release_local,
)
