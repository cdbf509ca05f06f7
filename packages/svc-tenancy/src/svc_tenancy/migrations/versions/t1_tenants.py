"""tenancy: the tenants table.

Revision ID: t1_tenants
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from svc_core.sql import AwareDateTime

revision = "t1_tenants"
down_revision = None
branch_labels = ("tenancy",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "svc_tenants",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("plan", sa.String(64), nullable=False),
        sa.Column("quota_overrides", sa.JSON(), nullable=False),
        sa.Column("created_at", AwareDateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", AwareDateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_svc_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_svc_tenants_slug")),
    )


def downgrade() -> None:
    op.drop_table("svc_tenants")
