"""The KV protocol's basic operations, on every backend (the ``kv`` fixture)."""

from __future__ import annotations

import math
import time

import pytest

from svc_core.kv import KV, KVError, hash_tag


async def test_every_store_implements_the_protocol(kv: KV) -> None:
    assert isinstance(kv, KV)
    assert kv.namespace.startswith("svc-test:")


async def test_get_of_a_missing_key_is_none(kv: KV) -> None:
    assert await kv.get("missing") is None
    assert await kv.exists("missing") is False


async def test_set_then_get_round_trips_bytes_and_utf8_text(kv: KV) -> None:
    assert await kv.set("raw", b"\x00\xff\x10") is True
    assert await kv.set("text", "héllo") is True
    assert await kv.get("raw") == b"\x00\xff\x10"
    assert await kv.get("text") == "héllo".encode()
    assert await kv.exists("text") is True


async def test_set_overwrites_and_a_plain_set_clears_the_expiry(kv: KV) -> None:
    await kv.set("k", "1", ttl=100)
    remaining = await kv.ttl("k")
    assert remaining is not None
    assert 99 < remaining <= 100
    await kv.set("k", "2")
    assert await kv.get("k") == b"2"
    assert await kv.ttl("k") is None


async def test_set_nx_writes_only_when_absent(kv: KV) -> None:
    assert await kv.set("k", "first", nx=True) is True
    assert await kv.set("k", "second", nx=True) is False
    assert await kv.get("k") == b"first"
    assert await kv.set("k", "third") is True
    assert await kv.get("k") == b"third"


async def test_delete_counts_the_keys_that_existed(kv: KV) -> None:
    await kv.set("a", "1")
    await kv.set("b", "2")
    assert await kv.delete("a", "b", "c") == 2
    assert await kv.delete("a") == 0
    assert await kv.delete() == 0
    assert await kv.get("a") is None


async def test_incr_counts_from_zero_by_any_amount(kv: KV) -> None:
    assert await kv.incr("n") == 1
    assert await kv.incr("n", 5) == 6
    assert await kv.incr("n", -10) == -4
    assert await kv.get("n") == b"-4"
    await kv.set("m", "41")
    assert await kv.incr("m") == 42


async def test_incr_without_ttl_keeps_the_existing_expiry(kv: KV) -> None:
    await kv.set("n", "5", ttl=100)
    assert await kv.incr("n") == 6
    remaining = await kv.ttl("n")
    assert remaining is not None
    assert 99 < remaining <= 100


async def test_incr_ttl_is_set_on_creation_and_not_pushed_back(kv: KV) -> None:
    assert await kv.incr("w", ttl=100) == 1
    first = await kv.ttl("w")
    assert first is not None
    assert 99 < first <= 100
    assert await kv.expire("w", 50)
    assert await kv.incr("w", ttl=100) == 2
    later = await kv.ttl("w")
    assert later is not None
    assert later <= 50  # fixed window: a later increment does not extend it


async def test_incr_ttl_heals_a_counter_without_expiry(kv: KV) -> None:
    assert await kv.incr("w") == 1
    assert await kv.ttl("w") is None
    assert await kv.incr("w", ttl=100) == 2
    remaining = await kv.ttl("w")
    assert remaining is not None
    assert 99 < remaining <= 100


@pytest.mark.parametrize("value", ["abc", "1.5", " 1", "+1", "01", "-0", "99999999999999999999"])
async def test_incr_of_a_value_that_is_not_a_64_bit_integer_raises(kv: KV, value: str) -> None:
    await kv.set("s", value)
    with pytest.raises(KVError):
        await kv.incr("s")
    assert await kv.get("s") == value.encode()


async def test_incr_refuses_to_overflow_64_bits(kv: KV) -> None:
    await kv.set("big", str(2**63 - 1))
    with pytest.raises(KVError):
        await kv.incr("big")
    assert await kv.incr("big", -1) == 2**63 - 2


async def test_ttl_is_none_for_missing_and_persistent_keys(kv: KV) -> None:
    assert await kv.ttl("missing") is None
    await kv.set("p", "x")
    assert await kv.ttl("p") is None


async def test_expire_sets_the_remaining_time_of_existing_keys_only(kv: KV) -> None:
    assert await kv.expire("missing", 10) is False
    await kv.set("k", "x")
    assert await kv.expire("k", 10) is True
    remaining = await kv.ttl("k")
    assert remaining is not None
    assert 9 < remaining <= 10
    assert await kv.expire("k", 0.5) is True
    remaining = await kv.ttl("k")
    assert remaining is not None
    assert 0 < remaining <= 0.5


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf])
async def test_non_positive_or_non_finite_durations_are_refused(kv: KV, bad: float) -> None:
    with pytest.raises(ValueError, match="seconds > 0"):
        await kv.set("k", "x", ttl=bad)
    with pytest.raises(ValueError, match="seconds > 0"):
        await kv.incr("k", ttl=bad)
    with pytest.raises(ValueError, match="seconds > 0"):
        await kv.expire("k", bad)
    with pytest.raises(ValueError, match="seconds > 0"):
        await kv.claim("k", "me", bad)
    with pytest.raises(ValueError, match="seconds > 0"):
        await kv.extend("k", "me", bad)
    assert await kv.exists("k") is False


async def test_time_is_the_store_clock_in_epoch_seconds(kv: KV) -> None:
    # The test Redis runs on this machine, so its clock agrees with ours.
    assert abs(await kv.time() - time.time()) < 5


async def test_ping_answers_true_when_the_store_is_up(kv: KV) -> None:
    assert await kv.ping() is True


async def test_hash_tagged_keys_are_ordinary_keys(kv: KV) -> None:
    tag = hash_tag("tenant-1")
    await kv.set(f"rl:{tag}:a", "1")
    assert await kv.get(f"rl:{tag}:a") == b"1"


def test_hash_tag_wraps_the_part_and_refuses_braces() -> None:
    assert hash_tag("user:1") == "{user:1}"
    for bad in ("", "a{b", "a}b"):
        with pytest.raises(ValueError, match="hash tag"):
            hash_tag(bad)
