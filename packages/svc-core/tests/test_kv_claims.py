"""Claims and leases: owner semantics, release-on-failure and contention."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from svc_core.kv import KV, KVUnavailableError, Lease, LeaseUnavailableError, MemoryKV


async def test_a_claim_has_one_owner_until_released(kv: KV) -> None:
    assert await kv.claim("job", "a", 30) is True
    assert await kv.claim("job", "b", 30) is False
    assert await kv.claim("job", "a", 30) is False  # not re-entrant
    assert await kv.owner("job") == "a"
    remaining = await kv.ttl("job")
    assert remaining is not None
    assert 29 < remaining <= 30

    assert await kv.release("job", "b") is False
    assert await kv.owner("job") == "a"
    assert await kv.release("job", "a") is True
    assert await kv.owner("job") is None
    assert await kv.release("job", "a") is False
    assert await kv.claim("job", "b", 30) is True


async def test_extend_resets_the_lease_only_for_the_owner(kv: KV) -> None:
    assert await kv.extend("missing", "a", 60) is False
    assert await kv.claim("job", "a", 10) is True
    assert await kv.extend("job", "b", 60) is False
    remaining = await kv.ttl("job")
    assert remaining is not None
    assert remaining <= 10
    assert await kv.extend("job", "a", 60) is True
    remaining = await kv.ttl("job")
    assert remaining is not None
    assert 59 < remaining <= 60


async def test_a_value_set_by_other_means_is_not_released_by_a_claimer(kv: KV) -> None:
    await kv.set("job", "someone-else")
    assert await kv.claim("job", "a", 30) is False
    assert await kv.release("job", "a") is False
    assert await kv.get("job") == b"someone-else"


async def test_exactly_one_of_1000_concurrent_claimers_wins(kv: KV) -> None:
    owners = [f"owner-{i}" for i in range(1000)]
    results = await asyncio.gather(*(kv.claim("hot", owner, 30) for owner in owners))
    assert len(results) == 1000
    assert results.count(True) == 1
    winner = owners[results.index(True)]
    assert await kv.owner("hot") == winner


async def test_a_lease_claims_on_entry_and_releases_on_exit(kv: KV) -> None:
    async with kv.lease("L", lease=30) as lease:
        assert re.fullmatch(r"[0-9a-f]{32}", lease.owner)
        assert lease.held
        assert await kv.owner("L") == lease.owner
    assert not lease.held
    assert await kv.owner("L") is None


async def test_a_held_lease_refuses_a_second_holder_with_409(kv: KV) -> None:
    async with kv.lease("L", lease=30) as first:
        with pytest.raises(LeaseUnavailableError) as caught:
            async with kv.lease("L", lease=30):
                pytest.fail("the second lease must not be granted")
        assert caught.value.status_code == 409
        assert caught.value.key == "L"
        assert await kv.owner("L") == first.owner  # the loser released nothing
    assert await kv.owner("L") is None


async def test_a_lease_is_released_when_the_block_raises(kv: KV) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with kv.lease("L", lease=30):
            raise RuntimeError("boom")
    assert await kv.owner("L") is None
    async with kv.lease("L", lease=30) as again:  # the failed attempt blocks nobody
        assert again.held


async def test_a_lease_is_released_when_the_task_is_cancelled(kv: KV) -> None:
    entered = asyncio.Event()

    async def hold() -> None:
        async with kv.lease("L", lease=30):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(hold())
    await entered.wait()
    assert await kv.owner("L") is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await kv.owner("L") is None


async def test_lease_extend_and_explicit_owner(kv: KV) -> None:
    lease = Lease(kv, "L", 10, owner="worker-7")
    async with lease:
        assert await kv.owner("L") == "worker-7"
        assert await lease.extend(60) is True
        remaining = await kv.ttl("L")
        assert remaining is not None
        assert 59 < remaining <= 60
        assert lease.lease == 60


async def test_a_lost_lease_reports_it_and_leaves_the_new_owner_alone(
    kv: KV, caplog: pytest.LogCaptureFixture
) -> None:
    lease = kv.lease("L", lease=30)
    with caplog.at_level(logging.WARNING, logger="svc_core.kv"):
        async with lease:
            # Simulate expiry and takeover by another process.
            assert await kv.release("L", lease.owner)
            assert await kv.claim("L", "thief", 30)
            assert await lease.extend() is False
            assert not lease.held
    assert await kv.owner("L") == "thief"

    other = kv.lease("M", lease=30)
    with caplog.at_level(logging.WARNING, logger="svc_core.kv"):
        async with other:
            await kv.delete("M")
    assert "expired before it was released" in caplog.text


class _ReleaseFails(MemoryKV):
    async def release(self, _key: str, _owner: str) -> bool:
        raise KVUnavailableError("store down")


async def test_a_failed_release_never_hides_the_block_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kv = _ReleaseFails()
    with pytest.raises(ValueError, match="original"):
        async with kv.lease("L", lease=30):
            raise ValueError("original")
    async with kv.lease("M", lease=30):
        pass  # a successful block stays successful; the claim simply expires
    assert await kv.owner("M") is not None
    assert "could not release lease" in caplog.text
