"""The algorithms on both stores (the ``kv`` fixture: memory | redis), one atomic step each.

Running the same cases over both stores is what keeps the Lua body and its Python twin
in step; the frozen-clock cases pin the exact arithmetic on the memory store.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from svc_core.kv import KV, MemoryKV
from svc_ratelimit import Limit, Policy, RateLimiter
from svc_ratelimit.algorithms import ALGORITHMS

ALGOS = sorted(ALGORITHMS)


class Clock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("algorithm", ALGOS)
async def test_admits_the_quota_then_refuses(kv: KV, algorithm: str) -> None:
    limiter = RateLimiter(kv)
    policy = Policy("api", (Limit(5, 60),), algorithm=algorithm)  # type: ignore[arg-type]
    decisions = [await limiter.hit(policy, "ip:1.2.3.4", tenant=None) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.quotas[0].remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    refused = decisions[5]
    assert refused.violated == ["api"]
    assert 1 <= refused.retry_after <= 2 * 60  # sliding: the window weighs into the next
    # Another partition is unaffected.
    assert (await limiter.hit(policy, "ip:5.6.7.8", tenant=None)).allowed


@pytest.mark.parametrize("algorithm", ALGOS)
async def test_several_limits_are_decided_together(kv: KV, algorithm: str) -> None:
    limiter = RateLimiter(kv)
    policy = Policy("api", (Limit(3, 1), Limit(4, 3600)), algorithm=algorithm)  # type: ignore[arg-type]
    assert policy.items == ("api-second", "api-hour")
    results = [await limiter.hit(policy, "p:u", tenant="t") for _ in range(5)]
    assert [d.allowed for d in results] == [True, True, True, False, False]
    assert results[3].violated == ["api-second"]
    await asyncio.sleep(max(results[4].retry_after, 1) + 0.05)
    # The two refused requests were not counted against the hour: exactly one unit left.
    last = await limiter.hit(policy, "p:u", tenant="t")
    assert last.allowed
    assert last.quotas[1].remaining == 0
    over = await limiter.hit(policy, "p:u", tenant="t")
    assert not over.allowed
    assert "api-hour" in over.violated  # (the sliding second may still weigh too)
    assert over.retry_after > 60


@pytest.mark.parametrize("algorithm", ALGOS)
async def test_tenants_never_share_a_count(kv: KV, algorithm: str) -> None:
    limiter = RateLimiter(kv)
    policy = Policy("api", (Limit(2, 60),), algorithm=algorithm)  # type: ignore[arg-type]
    for _ in range(2):
        assert (await limiter.hit(policy, "p:same", tenant="a")).allowed
    assert not (await limiter.hit(policy, "p:same", tenant="a")).allowed
    assert (await limiter.hit(policy, "p:same", tenant="b")).allowed
    keys_a = limiter.keys(policy, "p:same", "a")
    keys_b = limiter.keys(policy, "p:same", "b")
    assert keys_a != keys_b
    assert all("{a|p:same}" in k for k in keys_a)


@pytest.mark.parametrize("algorithm", ALGOS)
async def test_500_parallel_decisions_admit_exactly_the_quota(kv: KV, algorithm: str) -> None:
    limiter = RateLimiter(kv)
    policy = Policy("burst", (Limit(100, 3600),), algorithm=algorithm)  # type: ignore[arg-type]
    decisions = await asyncio.gather(
        *(limiter.hit(policy, "ip:9.9.9.9", tenant=None) for _ in range(500))
    )
    assert sum(d.allowed for d in decisions) == 100


@pytest.mark.parametrize("algorithm", ALGOS)
async def test_retry_after_is_honoured_in_real_time(kv: KV, algorithm: str) -> None:
    """After Retry-After seconds a request passes again, on both stores (≤ ~2 s)."""
    limiter = RateLimiter(kv)
    policy = Policy("tick", (Limit(2, 1),), algorithm=algorithm)  # type: ignore[arg-type]
    assert (await limiter.hit(policy, "ip:1", tenant=None)).allowed
    assert (await limiter.hit(policy, "ip:1", tenant=None)).allowed
    refused = await limiter.hit(policy, "ip:1", tenant=None)
    assert not refused.allowed
    assert refused.retry_after in (1, 2)
    await asyncio.sleep(refused.retry_after + 0.05)
    assert (await limiter.hit(policy, "ip:1", tenant=None)).allowed


@pytest.mark.parametrize("algorithm", ALGOS)
async def test_both_stores_give_the_same_answers(redis_url: str, algorithm: str) -> None:
    """The Lua body and its Python twin agree, decision by decision."""
    from svc_core.kv import RedisKV
    from svc_core.testing.kv_fixtures import unique_namespace

    policy = Policy("twin", (Limit(4, 3600), Limit(6, 86400)), algorithm=algorithm)  # type: ignore[arg-type]
    namespace = unique_namespace()
    async with RedisKV(redis_url, namespace, timeout=5) as redis_kv:
        try:
            runs = []
            for store in (MemoryKV(namespace), redis_kv):
                limiter = RateLimiter(store)
                runs.append([await limiter.hit(policy, "p:twin", tenant="t") for _ in range(8)])
        finally:
            await redis_kv.delete(*RateLimiter(redis_kv).keys(policy, "p:twin", "t"))
    memory, redis = runs
    assert [d.allowed for d in memory] == [d.allowed for d in redis] == [True] * 4 + [False] * 4
    for m, r in zip(memory, redis, strict=True):
        assert [q.remaining for q in m.quotas] == [q.remaining for q in r.quotas]
        assert m.violated == r.violated
        for mq, rq in zip(m.quotas, r.quotas, strict=True):
            assert abs(mq.reset - rq.reset) <= 1
            assert abs(mq.retry_after - rq.retry_after) <= 1


@pytest.mark.parametrize("algorithm", ALGOS)
async def test_frozen_clock_retry_is_never_early(algorithm: str) -> None:
    clock = Clock()
    kv = MemoryKV(clock=clock)
    limiter = RateLimiter(kv)
    policy = Policy("p", (Limit(3, 10),), algorithm=algorithm)  # type: ignore[arg-type]
    for step in range(40):
        decision = await limiter.hit(policy, "ip:x", tenant=None)
        if not decision.allowed:
            wait = decision.retry_after
            # A retry at the announced time always passes: Retry-After is never early.
            clock.now += wait
            assert (await limiter.hit(policy, "ip:x", tenant=None)).allowed, (step, wait)
        else:
            clock.now += 0.7


async def test_fixed_window_resets_after_the_window() -> None:
    clock = Clock()
    limiter = RateLimiter(MemoryKV(clock=clock))
    policy = Policy("p", (Limit(2, 10),), algorithm="fixed_window")
    assert (await limiter.hit(policy, "ip:x", tenant=None)).allowed
    clock.now += 4
    assert (await limiter.hit(policy, "ip:x", tenant=None)).allowed
    refused = await limiter.hit(policy, "ip:x", tenant=None)
    assert refused.retry_after == 6
    assert refused.quotas[0].reset == 6
    clock.now += 5.9
    assert not (await limiter.hit(policy, "ip:x", tenant=None)).allowed
    clock.now += 0.1
    fresh = await limiter.hit(policy, "ip:x", tenant=None)
    assert fresh.allowed
    assert fresh.quotas[0].remaining == 1


async def test_sliding_window_weighs_the_previous_window() -> None:
    clock = Clock(1_700_000_000.0)  # a multiple of 10 s: window boundaries are known
    limiter = RateLimiter(MemoryKV(clock=clock))
    policy = Policy("p", (Limit(10, 10),), algorithm="sliding_window")
    for _ in range(10):
        assert (await limiter.hit(policy, "ip:x", tenant=None)).allowed
    clock.now += 12  # 2 s into the next window: 80 % of the previous 10 still count
    decisions = [await limiter.hit(policy, "ip:x", tenant=None) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    # The estimate is 8 + 2 = 10; the next unit frees when 10 % of the window more has
    # elapsed: 1 s.
    assert decisions[2].retry_after == 1
    clock.now += 0.999
    assert not (await limiter.hit(policy, "ip:x", tenant=None)).allowed
    clock.now += 0.001
    assert (await limiter.hit(policy, "ip:x", tenant=None)).allowed


async def test_gcra_spaces_requests_after_a_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(MemoryKV(clock=clock))
    policy = Policy("p", (Limit(3, 3),), algorithm="gcra")  # one per second, burst 3
    assert [(await limiter.hit(policy, "ip:x", tenant=None)).allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    clock.now += 1
    assert (await limiter.hit(policy, "ip:x", tenant=None)).allowed
    assert not (await limiter.hit(policy, "ip:x", tenant=None)).allowed


def test_a_cost_above_the_quota_is_refused_at_definition() -> None:
    from svc_ratelimit import InvalidLimitError

    with pytest.raises(InvalidLimitError):
        Policy("p", (Limit(2, 10),), cost=3)
    with pytest.raises(InvalidLimitError):
        Policy("bad name", (Limit(2, 10),))


async def test_the_clock_is_the_stores(kv: KV) -> None:
    # A decision's reset derives from the store clock, never this process's.
    limiter = RateLimiter(kv)
    decision = await limiter.hit(
        Policy("c", (Limit(1, 30),), algorithm="fixed_window"), "ip:c", tenant=None
    )
    assert decision.quotas[0].reset == 30
    assert abs(await kv.time() - time.time()) < 5
