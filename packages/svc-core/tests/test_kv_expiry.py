"""Expiry: driven by an injected clock in memory, by short real TTLs on Redis."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable

import pytest

from svc_core.kv import KV, MemoryKV

Advance = Callable[[float], Awaitable[None]]


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clocked(kv: KV) -> tuple[KV, Advance]:
    """The store, and a way to let time pass: a fake clock in memory, real sleep on Redis."""
    if isinstance(kv, MemoryKV):
        clock = FakeClock()
        store = MemoryKV(kv.namespace, clock)

        async def advance_clock(seconds: float) -> None:
            clock.advance(seconds)

        return store, advance_clock
    return kv, asyncio.sleep


async def test_a_value_is_gone_once_its_ttl_has_passed(clocked: tuple[KV, Advance]) -> None:
    kv, advance = clocked
    await kv.set("k", "x", ttl=0.3)
    await kv.set("forever", "y")
    assert await kv.get("k") == b"x"
    await advance(0.4)
    assert await kv.get("k") is None
    assert await kv.exists("k") is False
    assert await kv.ttl("k") is None
    assert await kv.delete("k") == 0
    assert await kv.set("k", "again", nx=True) is True
    assert await kv.get("forever") == b"y"


async def test_a_fixed_window_counter_starts_again_after_its_ttl(
    clocked: tuple[KV, Advance],
) -> None:
    kv, advance = clocked
    assert [await kv.incr("hits", ttl=0.3) for _ in range(3)] == [1, 2, 3]
    await advance(0.4)
    assert await kv.incr("hits", ttl=0.3) == 1


async def test_an_expired_claim_can_be_taken_by_another_owner(
    clocked: tuple[KV, Advance],
) -> None:
    kv, advance = clocked
    assert await kv.claim("job", "a", 0.3) is True
    assert await kv.claim("job", "b", 0.3) is False
    await advance(0.4)
    assert await kv.claim("job", "b", 30) is True
    # The first owner's late release must not free the second owner's claim.
    assert await kv.release("job", "a") is False
    assert await kv.extend("job", "a", 30) is False
    assert await kv.owner("job") == "b"


async def test_extend_keeps_a_claim_alive_past_its_first_lease(
    clocked: tuple[KV, Advance],
) -> None:
    kv, advance = clocked
    assert await kv.claim("job", "a", 0.3) is True
    await advance(0.2)
    assert await kv.extend("job", "a", 0.6) is True
    await advance(0.2)  # 0.4 s after the claim: past the first lease
    assert await kv.owner("job") == "a"
    assert await kv.claim("job", "b", 30) is False


async def test_memory_expiry_follows_the_injected_clock_exactly() -> None:
    clock = FakeClock()
    kv = MemoryKV(clock=clock)
    await kv.set("k", "x", ttl=60)
    clock.advance(59.5)
    assert await kv.ttl("k") == pytest.approx(0.5)
    assert await kv.get("k") == b"x"
    clock.advance(0.5)
    assert await kv.get("k") is None
    assert await kv.time() == clock.now


async def test_memory_sweep_reclaims_expired_keys_in_bounded_batches() -> None:
    clock = FakeClock()
    kv = MemoryKV(clock=clock, sweep_batch=64)
    for i in range(1000):
        await kv.set(f"k{i}", "x", ttl=1)
    await kv.set("keep", "x")
    clock.advance(2)
    # Each operation removes at most one batch, however many keys expired.
    await kv.get("keep")
    assert len(kv._values) == 1001 - 64
    for _ in range(20):
        await kv.get("keep")
    assert set(kv._values) == {"keep"}
    assert kv._expires == {}


async def test_memory_expiry_bookkeeping_stays_proportional_to_the_data() -> None:
    clock = FakeClock()
    kv = MemoryKV(clock=clock)
    await kv.set("k", "x")
    for i in range(10_000):
        await kv.expire("k", 100 + i)
    # Rewritten expiries leave stale heap entries; compaction keeps them bounded.
    assert len(kv._heap) <= 2 * len(kv._expires) + 1024 + 1


def test_memory_store_is_safe_across_threads() -> None:
    kv = MemoryKV()

    def worker() -> None:
        async def bump() -> None:
            for _ in range(2_000):
                await kv.incr("n")

        asyncio.run(bump())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so an unlocked store loses updates
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert asyncio.run(kv.get("n")) == b"8000"
