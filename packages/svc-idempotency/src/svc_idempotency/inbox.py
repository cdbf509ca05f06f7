"""The inbox: a consumer processes each message id once (SQL or key-value), with a TTL.

SQL, in the consumer's own transaction — the mark commits with the effects::

    async with db.transaction() as session:
        if await inbox.mark(session, "billing", event.id):
            await apply(session, event)          # first delivery only

Key-value (memory or Redis), when the effects are not in the same database::

    async with kv_inbox.process("billing", event.id) as first:
        if first:
            await apply(event)                   # a failure un-marks it: redelivery runs again
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy.dialects import postgresql, sqlite

from svc_core.kv import hash_tag
from svc_idempotency.models import InboxMessage
from svc_idempotency.sql_store import DEFAULT_PURGE_BATCH, count_expired, purge_in_batches

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncSession

    from svc_core.kv import KV
    from svc_core.sql import Database

__all__ = ["KVInbox", "SqlInbox"]

_T: Table = cast("Table", InboxMessage.__table__)


class SqlInbox:
    """Processed message ids in ``svc_inbox`` (SQLite or Postgres)."""

    def __init__(
        self,
        database: Database,
        *,
        ttl: float = 7 * 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Remember ids for ``ttl`` seconds (then :meth:`purge_expired` forgets them)."""
        self.database = database
        self.ttl = ttl
        self.clock = clock

    async def mark(self, session: AsyncSession, consumer: str, message_id: str) -> bool:
        """Record ``message_id`` for ``consumer`` in ``session``'s transaction.

        Returns:
            ``True`` the first time (process the message), ``False`` for a duplicate.
            Two concurrent deliveries: one gets ``True``; on Postgres the other waits
            for its commit and gets ``False`` (or ``True`` if it rolled back).
        """
        now = datetime.fromtimestamp(self.clock(), UTC)
        dialect = session.bind.dialect.name if session.bind is not None else self.database.dialect
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(_T).values(
            consumer=consumer,
            message_id=str(message_id),
            received_at=now,
            expires_at=now + timedelta(seconds=self.ttl),
        )
        # An expired mark is taken over (the message is treated as new again).
        stmt = stmt.on_conflict_do_update(
            index_elements=[_T.c.consumer, _T.c.message_id],
            set_={"received_at": stmt.excluded.received_at, "expires_at": stmt.excluded.expires_at},
            where=_T.c.expires_at <= now,
        )
        result = await session.execute(stmt)
        return bool(getattr(result, "rowcount", 0))

    async def expired_count(self) -> int:
        """How many marks have expired (what :meth:`purge_expired` would delete now)."""
        return await count_expired(self.database, _T, datetime.fromtimestamp(self.clock(), UTC))

    async def purge_expired(
        self,
        *,
        batch_size: int = DEFAULT_PURGE_BATCH,
        max_batches: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Delete expired marks, at most ``batch_size`` per short transaction.

        Args:
            batch_size: Rows one batch (one transaction) deletes at most.
            max_batches: Stop after this many batches (``None``: until none are left),
                to bound the work of one call; the rest waits for the next call.
            progress: Called with the number deleted after each batch.

        Returns:
            How many marks were deleted.
        """
        return await purge_in_batches(
            self.database,
            _T,
            datetime.fromtimestamp(self.clock(), UTC),
            batch_size=batch_size,
            max_batches=max_batches,
            progress=progress,
        )


class KVInbox:
    """Processed message ids in the key-value store; expiry is the store's own TTL."""

    def __init__(self, kv: KV, *, ttl: float = 7 * 24 * 3600.0, lease: float = 60.0) -> None:
        """Remember ids for ``ttl`` seconds; a message being processed is held ``lease`` s."""
        self.kv = kv
        self.ttl = ttl
        self.lease = lease

    @staticmethod
    def _key(consumer: str, message_id: str) -> str:
        return f"inbox:{hash_tag(consumer)}:{message_id}"

    async def mark(self, consumer: str, message_id: str) -> bool:
        """Record the id now; ``True`` the first time (mark-then-process, at-most-once)."""
        return await self.kv.set(
            self._key(consumer, str(message_id)), "done", ttl=self.ttl, nx=True
        )

    async def seen(self, consumer: str, message_id: str) -> bool:
        """Whether the id is marked (done or being processed)."""
        return await self.kv.exists(self._key(consumer, str(message_id)))

    @asynccontextmanager
    async def process(self, consumer: str, message_id: str) -> AsyncIterator[bool]:
        """Hold the id while processing; mark it done on success, free it on failure.

        Yields ``True`` when this caller should process the message, ``False`` when it
        was already processed or is being processed elsewhere.
        """
        key = self._key(consumer, str(message_id))
        owner = f"processing:{time.time_ns()}"
        if not await self.kv.claim(key, owner, self.lease):
            yield False
            return
        try:
            yield True
        except BaseException:
            await self.kv.release(key, owner)
            raise
        await self.kv.set(key, "done", ttl=self.ttl)
