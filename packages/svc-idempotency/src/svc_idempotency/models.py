"""Tables of svc-idempotency (Alembic branch ``idempotency``).

* ``svc_idempotency_records``: completed requests of the SQL store;
* ``svc_outbox``: the transactional outbox;
* ``svc_inbox``: message ids a consumer has processed.
"""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - SQLAlchemy resolves Mapped[datetime] at runtime
from typing import Any

from sqlalchemy import JSON, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from svc_core.sql import UUIDPK, AwareDateTime, Base

__all__ = ["IdempotencyRecord", "InboxMessage", "OutboxMessage"]


class IdempotencyRecord(Base):
    """One completed request, kept until ``expires_at``."""

    __tablename__ = "svc_idempotency_records"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    headers: Mapped[list[Any]] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())
    expires_at: Mapped[datetime] = mapped_column(AwareDateTime(), index=True)


class OutboxMessage(Base):
    """An event written in the business transaction, relayed at least once.

    ``status`` is ``pending`` (waiting or between retries), ``sent`` or ``dead`` (gave
    up after the last attempt; ``last_error`` says why).
    """

    __tablename__ = "svc_outbox"
    __table_args__ = (Index("ix_svc_outbox_status_available_at", "status", "available_at"),)

    id: Mapped[UUIDPK]
    topic: Mapped[str] = mapped_column(String(200))
    payload: Mapped[Any] = mapped_column(JSON)
    headers: Mapped[dict[str, str]] = mapped_column(JSON)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())
    available_at: Mapped[datetime] = mapped_column(AwareDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(AwareDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class InboxMessage(Base):
    """A message id a consumer has processed, remembered until ``expires_at``."""

    __tablename__ = "svc_inbox"

    consumer: Mapped[str] = mapped_column(String(200), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(AwareDateTime())
    expires_at: Mapped[datetime] = mapped_column(AwareDateTime(), index=True)
