"""The memory store's fast path: records and claims of one process as plain tuples.

With svc-core's :class:`~svc_core.kv.MemoryKV` (the embedded profile) the engine's two
calls per first request went through the key-value store's script emulation: key
namespacing, values encoded to bytes and Redis-style replies, and every record encoded to
and decoded from bytes. Nothing outside this process can see that data anyway, so
:class:`LocalTable` keeps the same two things — completed responses with a TTL and
in-flight claims with an owner and a lease — as tuples under one lock, with the same
semantics (lookup-or-claim and store-and-release are atomic; an expired claim can be
taken over; a late holder can neither overwrite a record nor release another's claim).

One table per ``MemoryKV`` is shared by every engine built on it, as the store's keys
were. Entries are tuples of strings, numbers and bytes, which the garbage collector stops
tracking after its first look: a table of millions of records adds nothing to a full
collection's pause (a dict of ``StoredResponse`` objects would). Time is the store's clock
(``MemoryKV.clock``), so tests that move it move expiry here too.
"""

from __future__ import annotations

import heapq
import threading
import weakref
from typing import TYPE_CHECKING

from svc_idempotency.records import StoredResponse

if TYPE_CHECKING:
    from collections.abc import Callable

    from svc_core.kv import MemoryKV

#: A record as kept: deadline, then the StoredResponse fields in order.
_Entry = tuple[float, str, int, tuple[tuple[str, str], ...], bytes, float]

__all__ = ["BEGUN", "CLAIMED", "HELD", "LocalStore", "LocalTable", "local_table"]

#: :meth:`LocalTable.begin` outcomes: a stored record, a new claim, another holder.
BEGUN, CLAIMED, HELD = 1, 2, 3

# Expired records removed per operation, at most (the rest go on later calls).
_SWEEP_BATCH = 16
# A full scan drops expired claims once this many are kept (normally every claim is
# released by the middleware; this only bounds a leak). After a scan the next one waits
# until the table has doubled, so scans cost O(1) per claim however many are live.
_CLAIM_SCAN_AT = 10_000
# Heap entries left by deleted records are dropped once they outnumber the live ones
# by this much.
_COMPACT_SLACK = 1024

_TABLES: weakref.WeakKeyDictionary[MemoryKV, LocalTable] = weakref.WeakKeyDictionary()
_TABLES_LOCK = threading.Lock()


def local_table(kv: MemoryKV) -> LocalTable:
    """The table of ``kv`` (created on first use; shared by every engine on ``kv``)."""
    with _TABLES_LOCK:
        table = _TABLES.get(kv)
        if table is None:
            table = _TABLES[kv] = LocalTable(kv.clock)
        return table


class LocalTable:
    """Completed responses and in-flight claims of one process.

    Args:
        clock: Seconds (the store clock); drives every expiry.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        """An empty table on ``clock``."""
        self._clock = clock
        self._records: dict[str, _Entry] = {}
        self._claims: dict[str, tuple[str, float]] = {}
        self._heap: list[tuple[float, str]] = []
        self._claim_scan_at = _CLAIM_SCAN_AT
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Live and not yet swept records (for tests and metrics)."""
        return len(self._records)

    # ---------------------------------------------------------------- engine calls

    def begin(self, scope: str, owner: str, lease: float) -> tuple[int, object]:
        """Look up or claim ``scope`` in one step.

        Returns:
            ``(BEGUN, record)``, ``(CLAIMED, owner)`` or ``(HELD, holder's owner token)``.
        """
        with self._lock:
            now = self._clock()
            self._sweep(now)
            record = self._record(scope, now)
            if record is not None:
                return BEGUN, record
            held = self._claims.get(scope)
            if held is not None and held[1] > now and held[0] != owner:
                return HELD, held[0]
            if len(self._claims) >= self._claim_scan_at:
                self._drop_expired_claims(now)
            self._claims[scope] = (owner, now + lease)
            return CLAIMED, owner

    def complete(self, scope: str, owner: str, record: StoredResponse, ttl: float) -> bool:
        """Store ``record`` unless one exists, then release ``owner``'s claim.

        Returns:
            Whether the record was written.
        """
        with self._lock:
            now = self._clock()
            self._sweep(now)
            written = self._put(scope, record, ttl, now)
            self._release(scope, owner)
            return written

    def extend(self, scope: str, owner: str, lease: float) -> bool:
        """Renew ``owner``'s claim for ``lease`` seconds; ``False`` if it is not held."""
        with self._lock:
            now = self._clock()
            held = self._claims.get(scope)
            if held is None or held[0] != owner or held[1] <= now:
                return False
            self._claims[scope] = (owner, now + lease)
            return True

    def release(self, scope: str, owner: str) -> bool:
        """Drop ``owner``'s claim; ``False`` if another owner (or nobody) holds it."""
        with self._lock:
            return self._release(scope, owner)

    def owner(self, scope: str) -> str | None:
        """Who holds the claim on ``scope``, or ``None``."""
        with self._lock:
            held = self._claims.get(scope)
            return held[0] if held is not None and held[1] > self._clock() else None

    # ---------------------------------------------------------------- store calls

    def get(self, scope: str) -> StoredResponse | None:
        """The live record of ``scope``, or ``None``."""
        with self._lock:
            return self._record(scope, self._clock())

    def put(self, scope: str, record: StoredResponse, ttl: float) -> bool:
        """Store ``record`` for ``ttl`` seconds unless one exists; whether it was written."""
        with self._lock:
            return self._put(scope, record, ttl, self._clock())

    def delete(self, scope: str) -> None:
        """Forget the record of ``scope`` (its heap entry is swept later)."""
        with self._lock:
            self._records.pop(scope, None)

    # ---------------------------------------------------------------- internals

    def _record(self, scope: str, now: float) -> StoredResponse | None:
        entry = self._records.get(scope)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._records[scope]
            return None
        return StoredResponse(entry[1], entry[2], entry[3], entry[4], entry[5])

    def _put(self, scope: str, record: StoredResponse, ttl: float, now: float) -> bool:
        if self._record(scope, now) is not None:
            return False
        deadline = now + ttl
        self._records[scope] = (
            deadline,
            record.fingerprint,
            record.status,
            record.headers,
            record.body,
            record.created_at,
        )
        heapq.heappush(self._heap, (deadline, scope))
        return True

    def _release(self, scope: str, owner: str) -> bool:
        held = self._claims.get(scope)
        if held is None or held[0] != owner:
            return False
        del self._claims[scope]
        return True

    def _sweep(self, now: float) -> None:
        heap = self._heap
        records = self._records
        for _ in range(_SWEEP_BATCH):
            if not heap or heap[0][0] > now:
                break
            deadline, scope = heapq.heappop(heap)
            entry = records.get(scope)
            if entry is not None and entry[0] == deadline:
                del records[scope]
        if len(heap) > 2 * len(records) + _COMPACT_SLACK:
            self._heap = [(entry[0], scope) for scope, entry in records.items()]
            heapq.heapify(self._heap)

    def _drop_expired_claims(self, now: float) -> None:
        for scope in [s for s, (_, deadline) in self._claims.items() if deadline <= now]:
            del self._claims[scope]
        self._claim_scan_at = max(_CLAIM_SCAN_AT, 2 * len(self._claims))


class LocalStore:
    """:class:`~svc_idempotency.IdempotencyStore` over a :class:`LocalTable` (``memory``)."""

    def __init__(self, table: LocalTable) -> None:
        """Keep records in ``table``."""
        self.table = table

    @property
    def backend(self) -> str:
        """``"memory"``."""
        return "memory"

    async def get(self, scope: str) -> StoredResponse | None:
        """The record of ``scope``, or ``None``."""
        return self.table.get(scope)

    async def put(self, scope: str, record: StoredResponse, ttl: float) -> bool:
        """Write ``record`` if absent, expiring after ``ttl`` seconds."""
        return self.table.put(scope, record, ttl)

    async def delete(self, scope: str) -> None:
        """Forget ``scope``."""
        self.table.delete(scope)
