"""Records in SQL, optionally committed in the same transaction as the handler's writes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ColumnElement, Table, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from svc_idempotency.models import IdempotencyRecord
from svc_idempotency.records import StoredResponse

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession

    from svc_core.sql import Database

__all__ = ["SqlIdempotencyStore"]

_TABLE: Table = cast("Table", IdempotencyRecord.__table__)

#: Rows one purge batch deletes by default (one short transaction each).
DEFAULT_PURGE_BATCH = 1000


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def count_expired(database: Database, table: Table, now: datetime) -> int:
    """How many rows of ``table`` have ``expires_at <= now``."""
    async with database.session() as session:
        stmt = select(func.count()).select_from(table).where(table.c.expires_at <= now)
        return int((await session.execute(stmt)).scalar_one())


async def purge_in_batches(
    database: Database,
    table: Table,
    now: datetime,
    *,
    batch_size: int,
    max_batches: int | None,
    progress: Callable[[int], None] | None,
) -> int:
    """Delete the rows of ``table`` expired at ``now``, ``batch_size`` per transaction.

    Each batch is ``DELETE … WHERE <primary key> IN (SELECT <primary key> … WHERE
    expires_at <= now LIMIT batch_size) AND expires_at <= now`` in a transaction of its
    own, so no lock is held for long. On Postgres the sub-select takes ``FOR UPDATE SKIP
    LOCKED``: two purges running at once delete different rows, and a row a writer is
    renewing right now (an expired key or mark being taken over) is left to it; the
    outer ``expires_at`` test keeps a row renewed meanwhile. SQLite has one writer, so
    there the batch is simply atomic.

    The loop ends after a batch deletes fewer than ``batch_size`` rows or after
    ``max_batches`` batches. It is bounded even without ``max_batches``: ``now`` is fixed,
    and new rows expire after it (their TTL is positive), so every full batch shrinks a
    finite set.

    Returns:
        The number of rows deleted.

    Raises:
        ValueError: ``batch_size`` or ``max_batches`` below 1.
    """
    if batch_size < 1:
        msg = f"batch_size must be >= 1, got {batch_size}"
        raise ValueError(msg)
    if max_batches is not None and max_batches < 1:
        msg = f"max_batches must be >= 1 or None, got {max_batches}"
        raise ValueError(msg)
    pk = list(table.primary_key.columns)
    key: ColumnElement[Any] = pk[0] if len(pk) == 1 else tuple_(*pk)
    expired = table.c.expires_at <= now
    chosen = select(*pk).where(expired).limit(batch_size).with_for_update(skip_locked=True)
    stmt = delete(table).where(key.in_(chosen), expired)
    total = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        async with database.transaction() as session:
            result = await session.execute(stmt)
        deleted = int(getattr(result, "rowcount", 0) or 0)
        batches += 1
        total += deleted
        if progress is not None:
            progress(deleted)
        if deleted < batch_size:
            break
    return total


class SqlIdempotencyStore:
    """Records in the ``svc_idempotency_records`` table (SQLite or Postgres).

    :meth:`put_in` writes a record inside a caller's session, so it commits — or rolls
    back — with the handler's own rows: a crash between "write" and "remember" cannot
    happen, and the primary key on the scope makes a second completion of the same key
    fail instead of committing a double effect.
    """

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        """Keep records in ``database``; ``clock`` gives seconds (frozen in tests)."""
        self.database = database
        self.clock = clock

    @property
    def backend(self) -> str:
        """``sql``."""
        return "sql"

    async def get(self, scope: str) -> StoredResponse | None:
        """The record of ``scope`` unless absent or expired."""
        async with self.database.session() as session:
            row = (
                await session.execute(
                    select(IdempotencyRecord).where(IdempotencyRecord.scope == scope)
                )
            ).scalar_one_or_none()
            if row is None or row.expires_at <= _dt(self.clock()):
                return None
            return StoredResponse(
                fingerprint=row.fingerprint,
                status=row.status,
                headers=tuple((str(k), str(v)) for k, v in row.headers),
                body=bytes(row.body),
                created_at=row.created_at.timestamp(),
            )

    def _upsert(self, dialect: str, scope: str, record: StoredResponse, ttl: float) -> Any:
        now = self.clock()
        values = {
            "scope": scope,
            "fingerprint": record.fingerprint,
            "status": record.status,
            "headers": [list(h) for h in record.headers],
            "body": record.body,
            "created_at": _dt(now),
            "expires_at": _dt(now) + timedelta(seconds=ttl),
        }
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(_TABLE).values(**values)
        # Overwrite only an expired record: a live one belongs to the first completion.
        return stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.scope],
            set_={k: stmt.excluded[k] for k in values if k != "scope"},
            where=_TABLE.c.expires_at <= _dt(now),
        )

    async def put_in(
        self, session: AsyncSession, scope: str, record: StoredResponse, ttl: float
    ) -> bool:
        """Write ``record`` in ``session``'s transaction (the caller commits).

        Returns:
            ``False`` when a live record exists already (another attempt completed).
        """
        dialect = session.bind.dialect.name if session.bind is not None else self.database.dialect
        result = await session.execute(self._upsert(dialect, scope, record, ttl))
        return bool(getattr(result, "rowcount", 0))

    async def put(self, scope: str, record: StoredResponse, ttl: float) -> bool:
        """Write ``record`` in a transaction of its own, unless a live one exists."""
        async with self.database.transaction() as session:
            return await self.put_in(session, scope, record, ttl)

    async def delete(self, scope: str) -> None:
        """Forget ``scope``."""
        async with self.database.transaction() as session:
            await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.scope == scope))

    async def expired_count(self) -> int:
        """How many records have expired (what :meth:`purge_expired` would delete now)."""
        return await count_expired(self.database, _TABLE, _dt(self.clock()))

    async def purge_expired(
        self,
        *,
        batch_size: int = DEFAULT_PURGE_BATCH,
        max_batches: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Delete expired records, at most ``batch_size`` per short transaction.

        Args:
            batch_size: Rows one batch (one transaction) deletes at most.
            max_batches: Stop after this many batches (``None``: until none are left),
                to bound the work of one call; the rest waits for the next call.
            progress: Called with the number deleted after each batch.

        Returns:
            How many records were deleted.
        """
        return await purge_in_batches(
            self.database,
            _TABLE,
            _dt(self.clock()),
            batch_size=batch_size,
            max_batches=max_batches,
            progress=progress,
        )
