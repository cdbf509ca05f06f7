"""SQL access for tracked job state and dead letters (SQLite and Postgres alike)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime  # noqa: TC003 - dataclass field type
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update

from svc_core.sql import uuid7
from svc_jobs.models import DeadLetter, JobRecord

if TYPE_CHECKING:
    from svc_core.sql import Database

__all__ = ["DeadLetterEntry", "JobState", "JobStore"]


@dataclass(frozen=True, slots=True)
class JobState:
    """What ``GET /jobs/{id}`` returns."""

    id: str
    name: str
    status: str
    attempts: int
    result: Any
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form (``error`` is left out: it may hold internals)."""
        return {
            "id": self.id,
            "status": self.status,
            "attempts": self.attempts,
            "result": self.result,
        }


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    """One row of the dead-letter queue."""

    id: str
    job_id: str | None
    name: str | None
    tenant_id: str | None
    reason: str
    attempts: int
    error: str | None
    message: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the CLI and the admin router."""
        return {
            "id": self.id,
            "job_id": self.job_id,
            "name": self.name,
            "tenant_id": self.tenant_id,
            "reason": self.reason,
            "attempts": self.attempts,
            "error": self.error,
            "message": self.message,
            "created_at": self.created_at.isoformat(),
        }


def _entry(row: DeadLetter) -> DeadLetterEntry:
    return DeadLetterEntry(
        id=row.id,
        job_id=row.job_id,
        name=row.name,
        tenant_id=row.tenant_id,
        reason=row.reason,
        attempts=row.attempts,
        error=row.error,
        message=row.message,
        created_at=row.created_at,
    )


class JobStore:
    """Tracked job state and the dead-letter queue, in the service's database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, job_id: str, name: str, tenant_id: str) -> None:
        """Record a queued job."""
        async with self.database.transaction() as session:
            session.add(
                JobRecord(id=job_id, name=name, tenant_id=tenant_id, status="queued", attempts=0)
            )

    async def forget(self, job_id: str) -> None:
        """Remove a job's record (its enqueue failed)."""
        async with self.database.transaction() as session:
            await session.execute(delete(JobRecord).where(JobRecord.id == job_id))

    async def mark(
        self,
        job_id: str,
        status: str,
        attempts: int,
        *,
        result: Any = None,
        error: str | None = None,
    ) -> None:
        """Move a tracked job to ``status``."""
        values: dict[str, Any] = {"status": status, "attempts": attempts, "error": error}
        if status == "succeeded":
            values["result"] = json.dumps(result, default=str)
        async with self.database.transaction() as session:
            await session.execute(update(JobRecord).where(JobRecord.id == job_id).values(**values))

    async def get(self, job_id: str, tenant_id: str) -> JobState | None:
        """The job ``job_id`` if it belongs to ``tenant_id``, else ``None``."""
        async with self.database.session() as session:
            row = await session.scalar(
                select(JobRecord).where(JobRecord.id == job_id, JobRecord.tenant_id == tenant_id)
            )
        if row is None:
            return None
        return JobState(
            id=row.id,
            name=row.name,
            status=row.status,
            attempts=row.attempts,
            result=json.loads(row.result) if row.result is not None else None,
            error=row.error,
        )

    async def dead_letter(
        self,
        *,
        message: str,
        reason: str,
        attempts: int,
        error: str | None,
        job_id: str | None = None,
        name: str | None = None,
        tenant_id: str | None = None,
    ) -> str:
        """Add a dead letter; returns its id."""
        entry_id = str(uuid7())
        async with self.database.transaction() as session:
            session.add(
                DeadLetter(
                    id=entry_id,
                    job_id=job_id,
                    name=name,
                    tenant_id=tenant_id,
                    reason=reason,
                    attempts=attempts,
                    error=error,
                    message=message,
                )
            )
        return entry_id

    async def dead_letters(
        self, *, name: str | None = None, limit: int = 100, ids: list[str] | None = None
    ) -> list[DeadLetterEntry]:
        """Dead letters, oldest first."""
        query = select(DeadLetter).order_by(DeadLetter.id).limit(limit)
        if name is not None:
            query = query.where(DeadLetter.name == name)
        if ids is not None:
            query = query.where(DeadLetter.id.in_(ids))
        async with self.database.session() as session:
            rows = (await session.scalars(query)).all()
        return [_entry(r) for r in rows]

    async def remove_dead_letters(
        self, ids: list[str] | None = None, *, name: str | None = None
    ) -> int:
        """Delete the given dead letters (all of them, or one job name's, when ``ids`` is None)."""
        stmt = delete(DeadLetter)
        if ids is not None:
            stmt = stmt.where(DeadLetter.id.in_(ids))
        if name is not None:
            stmt = stmt.where(DeadLetter.name == name)
        async with self.database.transaction() as session:
            result = await session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    async def dead_letter_count(self) -> int:
        """How many dead letters there are."""
        async with self.database.session() as session:
            found = await session.scalar(select(func.count()).select_from(DeadLetter))
        return int(found or 0)
