"""The idempotency engine: look up, claim with a lease, complete, replay.

:class:`Idempotency` is what the middleware and the route dependency share. The
in-flight claim is a svc-core key-value *claim* (owner + lease, compare-and-delete
release) on ``idem:{<scope>}:lock`` — taken with ``kv.claim``, or, when the records live in
the same key-value store, by one atomic lookup-or-claim script writing the same
``SET NX PX`` claim; the owner token carries the request fingerprint so
that a concurrent retry with another payload is told 422, not 409. The lease is renewed
every ``lease / 3`` seconds while the handler runs; when a process dies the claim simply
expires and a retry runs.

On svc-core's in-process :class:`~svc_core.kv.MemoryKV` (and no separate store) records
and claims live in a :class:`~svc_idempotency.local.LocalTable` instead — the same
semantics as Python objects, without the store's script emulation and byte encoding.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from svc_core.errors import ConfigurationError
from svc_core.kv import KVUnavailableError, MemoryKV, Script, new_owner
from svc_idempotency._scripts import BEGIN, COMPLETE
from svc_idempotency.errors import IdempotencyKeyInUseError, IdempotencyKeyMismatchError
from svc_idempotency.local import BEGUN, CLAIMED, LocalStore, LocalTable, local_table
from svc_idempotency.records import StoredResponse
from svc_idempotency.settings import IdempotencySettings
from svc_idempotency.stores import IdempotencyStore, KVIdempotencyStore, record_key

if TYPE_CHECKING:
    from collections.abc import Iterable

    from svc_core.kv import KV
    from svc_core.plugin import Runtime

__all__ = ["Claim", "Idempotency", "claim_key"]

logger = logging.getLogger("svc_idempotency")

#: Seconds a client is told to wait before retrying a key that is in flight.
RETRY_AFTER_IN_FLIGHT = 1


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def claim_key(scope: str) -> str:
    """The key-value key of the in-flight claim of ``scope``."""
    return f"idem:{{{scope}}}:lock"


@dataclass(slots=True, eq=False)
class Claim:
    """A held in-flight claim on a scope.

    Attributes:
        scope: The scope digest.
        fingerprint: The fingerprint of the request that holds it.
        owner: The claim's owner token (``<random>:<fingerprint>``).
    """

    scope: str
    fingerprint: str
    owner: str


class Idempotency:
    """Shared state of the ``Idempotency-Key`` machinery for one service.

    Example::

        idem = Idempotency(kv)                      # records in the same kv
        outcome = await idem.begin(scope, fp)       # StoredResponse → replay; Claim → run
    """

    def __init__(
        self,
        kv: KV,
        store: IdempotencyStore | None = None,
        *,
        ttl: float = 24 * 3600.0,
        lease: float = 30.0,
        max_body_bytes: int = 1024 * 1024,
        replay_headers: Iterable[str] | None = None,
    ) -> None:
        """Configure the engine.

        Args:
            kv: The key-value store holding in-flight claims (and records by default).
                A :class:`~svc_core.kv.MemoryKV` (exactly that class) with no ``store``
                uses the in-process fast path (:mod:`svc_idempotency.local`).
            store: Where completed requests are kept; default: ``kv``.
            ttl: Seconds a completed request is remembered.
            lease: Seconds an in-flight claim lives without renewal.
            max_body_bytes: Larger responses are not stored.
            replay_headers: Response header names stored and replayed.
        """
        if ttl <= 0 or lease <= 0:
            msg = "ttl and lease must be > 0"
            raise ConfigurationError(msg)
        self.kv = kv
        # Subclasses of MemoryKV (test doubles that fail calls on purpose) keep the
        # key-value path.
        self._local: LocalTable | None = (
            local_table(kv) if store is None and type(kv) is MemoryKV else None
        )
        if self._local is not None:
            self.store: IdempotencyStore = LocalStore(self._local)
        else:
            self.store = store if store is not None else KVIdempotencyStore(kv)
        self._fused = isinstance(self.store, KVIdempotencyStore) and self.store.kv is kv
        self.ttl = ttl
        self.lease = lease
        self.max_body_bytes = max_body_bytes
        names = (
            replay_headers if replay_headers is not None else IdempotencySettings().replay_headers
        )
        self.replay_headers = frozenset(h.lower().encode("latin-1") for h in names)
        self._held: set[Claim] = set()
        self._renewer: asyncio.Task[None] | None = None

    @classmethod
    def from_runtime(
        cls, runtime: Runtime, settings: IdempotencySettings | None = None
    ) -> Idempotency:
        """Build from a svc-core runtime and ``SVC_IDEMPOTENCY__*`` settings."""
        settings = settings or IdempotencySettings()
        store: IdempotencyStore | None = None
        if settings.store == "sql":
            from svc_idempotency.sql_store import SqlIdempotencyStore

            store = SqlIdempotencyStore(runtime.database)
        return cls(
            runtime.kv,
            store,
            ttl=settings.ttl,
            lease=settings.lease,
            max_body_bytes=settings.max_body_bytes,
            replay_headers=settings.replay_headers,
        )

    @staticmethod
    def _mismatch() -> IdempotencyKeyMismatchError:
        return IdempotencyKeyMismatchError(
            "This Idempotency-Key was used with a different request "
            "(method, path or body); use a new key for a new request."
        )

    def _check(self, record: StoredResponse, fingerprint: str) -> StoredResponse:
        if record.fingerprint != fingerprint:
            raise self._mismatch()
        return record

    @staticmethod
    def _in_use() -> IdempotencyKeyInUseError:
        return IdempotencyKeyInUseError(
            "A request with this Idempotency-Key is still being processed; retry later.",
            headers={"Retry-After": str(RETRY_AFTER_IN_FLIGHT)},
        )

    async def begin(self, scope: str, fingerprint: str) -> StoredResponse | Claim:
        """Decide what a request with ``scope`` and ``fingerprint`` does.

        Returns:
            The stored response to replay, or a :class:`Claim` — the caller runs the
            handler and then calls :meth:`complete` or :meth:`release`.

        Raises:
            IdempotencyKeyMismatchError: The key was used with another request (422).
            IdempotencyKeyInUseError: Another request with the key is in flight (409).
        """
        if self._local is not None:
            return self._begin_local(self._local, scope, fingerprint)
        if self._fused:
            return await self._begin_fused(scope, fingerprint)
        record = await self.store.get(scope)
        if record is not None:
            return self._check(record, fingerprint)
        lock = claim_key(scope)
        owner = f"{new_owner()}:{fingerprint}"
        for _ in range(3):
            if await self.kv.claim(lock, owner, self.lease):
                # A completion may have landed between the lookup and the claim.
                record = await self.store.get(scope)
                if record is not None:
                    await self.kv.release(lock, owner)
                    return self._check(record, fingerprint)
                return Claim(scope, fingerprint, owner)
            holder = await self.kv.owner(lock)
            if holder is not None:
                if holder.rpartition(":")[2] != fingerprint:
                    raise self._mismatch()
                raise self._in_use()
            record = await self.store.get(scope)
            if record is not None:
                return self._check(record, fingerprint)
        raise self._in_use()

    def _begin_local(
        self, table: LocalTable, scope: str, fingerprint: str
    ) -> StoredResponse | Claim:
        owner = f"{new_owner()}:{fingerprint}"
        kind, value = table.begin(scope, owner, self.lease)
        if kind == BEGUN:
            assert isinstance(value, StoredResponse)
            return self._check(value, fingerprint)
        if kind == CLAIMED:
            return Claim(scope, fingerprint, owner)
        if str(value).rpartition(":")[2] != fingerprint:
            raise self._mismatch()
        raise self._in_use()

    async def _extend(self, claim: Claim) -> bool:
        if self._local is not None:
            return self._local.extend(claim.scope, claim.owner, self.lease)
        return await self.kv.extend(claim_key(claim.scope), claim.owner, self.lease)

    async def _run(self, script: Script, keys: list[str], args: list[str | bytes | int]) -> Any:
        # Both scripts are safe to run twice (the claim recognises its own owner, the
        # completion writes NX and releases by owner), so a timeout gets one retry:
        # a cold connection pool under a burst should not turn into 503s.
        try:
            return await self.kv.run(script, keys, args)
        except KVUnavailableError:
            return await self.kv.run(script, keys, args)

    async def _begin_fused(self, scope: str, fingerprint: str) -> StoredResponse | Claim:
        # Records and claims in one key-value store: lookup-or-claim in one round trip.
        owner = f"{new_owner()}:{fingerprint}"
        keys = [record_key(scope), claim_key(scope)]
        for _ in range(3):
            kind, value = await self._run(BEGIN, keys, [owner, _ms(self.lease)])
            if kind == 1:
                return self._check(StoredResponse.decode(value), fingerprint)
            holder = bytes(value).decode(errors="replace")
            if kind == 2 or (kind == 3 and holder == owner):
                return Claim(scope, fingerprint, owner)
            if kind == 3:
                if holder.rpartition(":")[2] != fingerprint:
                    raise self._mismatch()
                raise self._in_use()
        raise self._in_use()

    def keep_alive(self, claim: Claim) -> None:
        """Renew ``claim``'s lease every ``lease / 3`` seconds until completed or released.

        One renewal task per engine serves every claim held at once (it ends when none is
        left): registering a claim is a set insertion, not a timer per request, since most
        handlers finish long before the first renewal is due.
        """
        self._held.add(claim)
        loop = asyncio.get_running_loop()
        task = self._renewer
        # (A task of another loop: the engine outlived the loop it first ran on, as with
        # several TestClient sessions on one app.)
        if task is None or task.done() or task.get_loop() is not loop:
            self._renewer = loop.create_task(self._renew_held(), name="svc-idempotency-lease")

    async def _renew_held(self) -> None:
        try:
            while self._held:
                await asyncio.sleep(self.lease / 3)
                # A claim taken since the last tick is renewed early: harmless. The oldest
                # possible claim is lease / 3 old here.
                for claim in list(self._held):
                    if claim not in self._held:
                        continue  # settled while an earlier renewal was awaited
                    try:
                        renewed = await self._extend(claim)
                    except Exception:
                        logger.warning("could not renew an idempotency claim", exc_info=True)
                        continue
                    if not renewed and claim in self._held:
                        self._held.discard(claim)
                        logger.warning("idempotency claim lost while the handler was running")
        finally:
            if self._renewer is asyncio.current_task():
                self._renewer = None

    def _stop(self, claim: Claim) -> None:
        self._held.discard(claim)

    async def complete(self, claim: Claim, response: StoredResponse) -> bool:
        """Store ``response`` for the claim's scope, then release the claim.

        Returns:
            Whether this call wrote the record (``False`` when one existed, e.g. written
            in the handler's transaction).
        """
        self._stop(claim)
        if self._local is not None:
            return self._local.complete(claim.scope, claim.owner, response, self.ttl)
        if self._fused:
            keys = [record_key(claim.scope), claim_key(claim.scope)]
            args: list[str | bytes | int] = [claim.owner, response.encode(), _ms(self.ttl)]
            return bool(await self._run(COMPLETE, keys, args))
        try:
            return await self.store.put(claim.scope, response, self.ttl)
        finally:
            await self.kv.release(claim_key(claim.scope), claim.owner)

    async def release(self, claim: Claim) -> None:
        """Give the claim up without storing anything (a retry will run the handler)."""
        self._stop(claim)
        if self._local is not None:
            self._local.release(claim.scope, claim.owner)
            return
        await self.kv.release(claim_key(claim.scope), claim.owner)
