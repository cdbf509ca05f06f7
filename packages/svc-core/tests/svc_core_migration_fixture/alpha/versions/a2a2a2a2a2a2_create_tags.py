"""create alpha tags

Revision ID: a2a2a2a2a2a2
Revises: a1a1a1a1a1a1
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a2a2a2a2a2a2"
down_revision: str | Sequence[str] | None = "a1a1a1a1a1a1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create fx_alpha_tags."""
    op.create_table(
        "fx_alpha_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["fx_alpha_items.id"],
            name=op.f("fk_fx_alpha_tags_item_id_fx_alpha_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fx_alpha_tags")),
    )
    op.create_index(op.f("ix_fx_alpha_tags_item_id"), "fx_alpha_tags", ["item_id"])


def downgrade() -> None:
    """Drop fx_alpha_tags."""
    op.drop_index(op.f("ix_fx_alpha_tags_item_id"), table_name="fx_alpha_tags")
    op.drop_table("fx_alpha_tags")
