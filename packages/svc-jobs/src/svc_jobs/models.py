"""SQL tables of svc-jobs: tracked job state and the dead-letter queue."""

from __future__ import annotations

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from svc_core.sql import Base, TenantMixin, TimestampMixin

__all__ = ["DeadLetter", "JobRecord"]


class JobRecord(TenantMixin, TimestampMixin, Base):
    """State of a tracked job (``@job(track=True)``): what ``GET /jobs/{id}`` shows.

    ``tenant_id`` is the tenant that enqueued it (``""`` for system jobs).
    """

    __tablename__ = "svc_jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class DeadLetter(TimestampMixin, Base):
    """A job that will not be retried again: exhausted, non-retryable, undecodable or
    unknown, or one whose workers kept dying (``worker_lost``)."""

    __tablename__ = "svc_jobs_dead_letters"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    message: Mapped[str] = mapped_column(Text, nullable=False)
