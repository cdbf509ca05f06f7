"""create alpha items

Revision ID: a1a1a1a1a1a1
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1a1a1a1a1a1"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("alpha",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create fx_alpha_items."""
    if op.get_bind().dialect.name == "postgresql":
        # Widen the window in which a second, unlocked migrator would collide.
        op.execute("SELECT pg_sleep(0.3)")
    op.create_table(
        "fx_alpha_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fx_alpha_items")),
        sa.UniqueConstraint("name", name=op.f("uq_fx_alpha_items_name")),
    )


def downgrade() -> None:
    """Drop fx_alpha_items."""
    op.drop_table("fx_alpha_items")
