"""Records in SQL, optionally committed in the same transaction as the handler's writes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from svc_idempotency.models import IdempotencyRecord
from svc_idempotency.records import StoredResponse

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession

    from svc_core.sql import Database

__all__ = ["SqlIdempotencyStore"]

_TABLE: Table = cast("Table", IdempotencyRecord.__table__)


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


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

    async def purge_expired(self) -> int:
        """Delete expired records; return how many."""
        async with self.database.transaction() as session:
            result = await session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= _dt(self.clock()))
            )
            return int(getattr(result, "rowcount", 0) or 0)
