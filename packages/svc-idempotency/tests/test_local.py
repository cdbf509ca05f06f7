"""The memory store's fast path (``svc_idempotency.local``): same semantics, objects not bytes.

The engine-level semantics (replay, 409, 422, takeover, late holders) run on it through the
``engine`` fixture's ``memory`` case; these tests cover what is particular to the table:
sharing, expiry on the store clock, bounded memory, and who does not get the fast path.
"""

from __future__ import annotations

from typing import Any

import pytest

from svc_core.kv import MemoryKV
from svc_idempotency import Idempotency, KVIdempotencyStore
from svc_idempotency.errors import IdempotencyKeyInUseError, IdempotencyKeyMismatchError
from svc_idempotency.local import LocalStore, LocalTable, local_table
from svc_idempotency.manager import Claim
from svc_idempotency.records import StoredResponse


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _record(body: bytes = b"ok", fp: str = "fp") -> StoredResponse:
    return StoredResponse(fp, 201, (("content-type", "application/json"),), body)


async def test_a_memory_kv_engine_keeps_objects_in_the_local_table() -> None:
    kv = MemoryKV("t:")
    idem = Idempotency(kv)
    assert isinstance(idem.store, LocalStore)
    assert idem.store.backend == "memory"
    claim = await idem.begin("s", "fp")
    assert isinstance(claim, Claim)
    record = _record()
    assert await idem.complete(claim, record) is True
    assert await idem.begin("s", "fp") == record
    assert await idem.store.get("s") == record


def test_stored_entries_are_left_alone_by_the_garbage_collector() -> None:
    """A big memory store must not lengthen every full collection."""
    import gc

    table = LocalTable(Clock())
    table.put("s", _record(), ttl=60)
    table.begin("c", "owner", lease=5)
    gc.collect()
    assert not gc.is_tracked(table._records["s"])
    assert not gc.is_tracked(table._claims["c"])


async def test_engines_on_one_memory_kv_share_records_and_claims() -> None:
    kv = MemoryKV("shared:")
    first, second = Idempotency(kv), Idempotency(kv)
    claim = await first.begin("s", "fp")
    assert isinstance(claim, Claim)
    with pytest.raises(IdempotencyKeyInUseError):
        await second.begin("s", "fp")
    with pytest.raises(IdempotencyKeyMismatchError):
        await second.begin("s", "other")
    await first.complete(claim, _record(b"once"))
    replay = await second.begin("s", "fp")
    assert isinstance(replay, StoredResponse)
    assert replay.body == b"once"
    # Another MemoryKV is another store.
    assert isinstance(await Idempotency(MemoryKV("shared:")).begin("s", "fp"), Claim)


async def test_records_and_claims_expire_on_the_store_clock() -> None:
    clock = Clock()
    idem = Idempotency(MemoryKV("c:", clock=clock), ttl=60, lease=5)
    held = await idem.begin("held", "fp")
    done = await idem.begin("done", "fp")
    assert isinstance(held, Claim)
    assert isinstance(done, Claim)
    await idem.complete(done, _record())
    clock.now += 5  # the lease is over: a retry takes the key over
    again = await idem.begin("held", "fp")
    assert isinstance(again, Claim)
    assert again.owner != held.owner
    assert await idem.complete(held, _record(b"late")) is True  # nothing stored yet: kept
    assert await idem.complete(again, _record(b"retry")) is False  # first write wins
    clock.now += 55  # "done" was stored 60 s ago
    assert isinstance(await idem.begin("done", "fp"), Claim)
    replay = await idem.begin("held", "fp")
    assert isinstance(replay, StoredResponse)
    assert replay.body == b"late"


async def test_renewal_and_release_act_on_the_local_claim() -> None:
    clock = Clock()
    idem = Idempotency(MemoryKV("r:", clock=clock), lease=5)
    claim = await idem.begin("s", "fp")
    assert isinstance(claim, Claim)
    table = local_table(idem.kv)  # type: ignore[arg-type]
    clock.now += 4
    assert await idem._extend(claim) is True
    clock.now += 4  # 8 s after the claim, 4 after the renewal: still held
    assert table.owner("s") == claim.owner
    with pytest.raises(IdempotencyKeyInUseError):
        await idem.begin("s", "fp")
    await idem.release(claim)
    assert table.owner("s") is None
    assert await idem._extend(claim) is False  # released: nothing to renew
    assert isinstance(await idem.begin("s", "fp"), Claim)


def test_expired_records_are_swept_and_memory_comes_back() -> None:
    clock = Clock()
    table = LocalTable(clock)
    for i in range(5000):
        assert table.put(f"s{i}", _record(), ttl=10) is True
    assert len(table) == 5000
    clock.now += 11
    # No reads of the old keys: the per-call sweep alone reclaims them, in bounded steps.
    for i in range(400):
        table.begin(f"new{i}", f"o{i}", lease=5)
    assert len(table) == 0
    assert len(table._heap) <= 1024 + 2 * len(table)


def test_leaked_claims_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from svc_idempotency import local

    monkeypatch.setattr(local, "_CLAIM_SCAN_AT", 100)
    clock = Clock()
    table = LocalTable(clock)
    for i in range(100):
        table.begin(f"lost{i}", "owner", lease=5)  # never completed nor released
    clock.now += 6
    table.begin("next", "owner", lease=5)
    assert len(table._claims) == 1  # the expired hundred were dropped by the scan
    for i in range(150):  # live claims are kept, and scans do not repeat on every call
        table.begin(f"live{i}", "owner", lease=5)
    assert len(table._claims) == 151
    assert table._claim_scan_at >= 200


def test_put_does_not_overwrite_and_delete_forgets() -> None:
    table = LocalTable(Clock())
    first, second = _record(b"1"), _record(b"2")
    assert table.put("s", first, ttl=10) is True
    assert table.put("s", second, ttl=10) is False
    assert table.get("s") == first
    table.delete("s")
    assert table.get("s") is None
    assert table.put("s", second, ttl=10) is True


async def test_subclasses_and_explicit_stores_keep_the_key_value_path() -> None:
    class Recording(MemoryKV):
        def __init__(self) -> None:
            super().__init__("sub:")
            self.scripts: list[str] = []

        async def run(self, script: Any, keys: Any, args: Any) -> Any:
            self.scripts.append(script.name)
            return await super().run(script, keys, args)

    kv = Recording()
    idem = Idempotency(kv)
    assert isinstance(idem.store, KVIdempotencyStore)
    claim = await idem.begin("s", "fp")
    assert isinstance(claim, Claim)
    await idem.complete(claim, _record())
    assert kv.scripts == ["idempotency-begin", "idempotency-complete"]
    plain = MemoryKV("explicit:")
    assert isinstance(Idempotency(plain, KVIdempotencyStore(plain)).store, KVIdempotencyStore)
