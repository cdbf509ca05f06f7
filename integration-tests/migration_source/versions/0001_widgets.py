"""widgets: a table owned by the test plugin.

Revision ID: a1_widgets
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "a1_widgets"
down_revision = None
branch_labels = ("widgets",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "test_widgets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("test_widgets")
