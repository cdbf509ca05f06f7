"""create jobs tables

Revision ID: a7c1e2f0b9d4
Revises:
Create Date: 2026-11-28 08:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7c1e2f0b9d4"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("jobs",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "svc_jobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_svc_jobs")),
    )
    with op.batch_alter_table("svc_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_svc_jobs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "svc_jobs_dead_letters",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_svc_jobs_dead_letters")),
    )
    with op.batch_alter_table("svc_jobs_dead_letters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_svc_jobs_dead_letters_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_svc_jobs_dead_letters_name"), ["name"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_svc_jobs_dead_letters_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("svc_jobs_dead_letters")
    op.drop_table("svc_jobs")
