"""idempotency: records, outbox and inbox tables.

Revision ID: i1_idempotency
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from svc_core.sql import AwareDateTime

revision = "i1_idempotency"
down_revision = None
branch_labels = ("idempotency",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "svc_idempotency_records",
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", AwareDateTime(), nullable=False),
        sa.Column("expires_at", AwareDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_svc_idempotency_records")),
    )
    op.create_index(
        op.f("ix_svc_idempotency_records_expires_at"), "svc_idempotency_records", ["expires_at"]
    )
    op.create_table(
        "svc_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", AwareDateTime(), nullable=False),
        sa.Column("available_at", AwareDateTime(), nullable=False),
        sa.Column("sent_at", AwareDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", AwareDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_svc_outbox")),
    )
    op.create_index("ix_svc_outbox_status_available_at", "svc_outbox", ["status", "available_at"])
    op.create_table(
        "svc_inbox",
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("received_at", AwareDateTime(), nullable=False),
        sa.Column("expires_at", AwareDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "message_id", name=op.f("pk_svc_inbox")),
    )
    op.create_index(op.f("ix_svc_inbox_expires_at"), "svc_inbox", ["expires_at"])


def downgrade() -> None:
    op.drop_table("svc_inbox")
    op.drop_table("svc_outbox")
    op.drop_table("svc_idempotency_records")
