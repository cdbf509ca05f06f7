"""demo: the projects table.

Revision ID: d1_projects
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from svc_core.sql import AwareDateTime

revision = "d1_projects"
down_revision = None
branch_labels = ("demo",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("created_at", AwareDateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", AwareDateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("deleted_at", AwareDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_index(op.f("ix_projects_tenant_id"), "projects", ["tenant_id"])
    op.create_index(op.f("ix_projects_deleted_at"), "projects", ["deleted_at"])
    op.create_index("ix_projects_tenant_id_id", "projects", ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_projects_tenant_id_id", table_name="projects")
    op.drop_index(op.f("ix_projects_deleted_at"), table_name="projects")
    op.drop_index(op.f("ix_projects_tenant_id"), table_name="projects")
    op.drop_table("projects")
