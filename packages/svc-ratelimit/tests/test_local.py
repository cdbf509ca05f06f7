"""The native in-process store against the scripts' memory twins, and its housekeeping.

On a :class:`~svc_core.kv.MemoryKV` the limiter decides through
:class:`~svc_ratelimit.local.LocalRates` (numbers, no bytes); the scripts' memory twins
keep the Redis body's string values. Both must give the same reply for every request of
every sequence, which is what the property test drives (the twins are in turn held to
the Lua bodies by ``test_both_stores_give_the_same_answers`` in test_algorithms.py).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svc_core.kv import MemoryKV
from svc_ratelimit import Limit, Policy, RateLimiter
from svc_ratelimit.algorithms import ALGORITHMS
from svc_ratelimit.local import LocalRates


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


_limits = st.lists(
    st.tuples(st.integers(1, 12), st.sampled_from([1, 2, 3, 10, 60])),
    min_size=1,
    max_size=3,
    unique_by=lambda item: item[1],
)
# (milliseconds to advance before the request, cost)
_steps = st.lists(st.tuples(st.integers(0, 2500), st.integers(1, 3)), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(
    algorithm=st.sampled_from(sorted(ALGORITHMS)),
    limits=_limits,
    steps=_steps,
    start_ms=st.integers(1_600_000_000_000, 1_800_000_000_000),
)
async def test_native_store_answers_as_the_script_twin(
    algorithm: str, limits: list[tuple[int, int]], steps: list[tuple[int, int]], start_ms: int
) -> None:
    clock = Clock(start_ms / 1000)
    kv = MemoryKV("t:", clock=clock)
    native = LocalRates(clock)
    smallest = min(amount for amount, _ in limits)
    for advance, cost in steps:
        clock.now += advance / 1000
        policy = Policy(
            "p",
            tuple(Limit(amount, window) for amount, window in limits),
            algorithm=algorithm,  # type: ignore[arg-type]
            cost=min(cost, smallest),
        )
        keys = [f"k:{window}" for _, window in limits]
        twin = await kv.run(ALGORITHMS[algorithm], keys, policy.script_args)
        ours = native.hit(algorithm, keys, policy.cost, policy.limits_ms)
        assert ours == twin, (advance, cost)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
async def test_expired_partitions_are_swept(algorithm: str) -> None:
    """Memory stays proportional to the live partitions, without a background task."""
    clock = Clock(1_700_000_000.0)
    limiter = RateLimiter(MemoryKV(clock=clock))
    policy = Policy("p", (Limit(5, 1),), algorithm=algorithm)  # type: ignore[arg-type]
    for n in range(500):
        await limiter.hit(policy, f"ip:10.0.{n // 250}.{n % 250}", tenant=None)
    native = limiter._native
    assert native is not None
    assert len(native) == 500
    clock.now += 5  # every window (and the sliding window's successor) is over
    for n in range(20):
        await limiter.hit(policy, f"ip:10.9.0.{n}", tenant=None)
    assert len(native) == 20


async def test_a_written_again_partition_is_not_swept_early() -> None:
    clock = Clock(1_700_000_000.0)
    limiter = RateLimiter(MemoryKV(clock=clock))
    policy = Policy("p", (Limit(3, 10),), algorithm="fixed_window")
    for _ in range(3):
        assert (await limiter.hit(policy, "ip:a", tenant=None)).allowed
    clock.now += 10  # the window is over: the next hit opens a new one, 10 s long
    assert (await limiter.hit(policy, "ip:a", tenant=None)).allowed
    clock.now += 1
    await limiter.hit(policy, "ip:other", tenant=None)  # sweeps the old deadline
    refused = [await limiter.hit(policy, "ip:a", tenant=None) for _ in range(3)]
    assert [d.allowed for d in refused] == [True, True, False]


async def test_reset_forgets_a_partition_on_the_memory_store() -> None:
    limiter = RateLimiter(MemoryKV())
    policy = Policy("p", (Limit(1, 60),))
    assert (await limiter.hit(policy, "ip:a", tenant="t")).allowed
    assert not (await limiter.hit(policy, "ip:a", tenant="t")).allowed
    await limiter.reset(policy, "ip:a", tenant="t")
    assert (await limiter.hit(policy, "ip:a", tenant="t")).allowed
