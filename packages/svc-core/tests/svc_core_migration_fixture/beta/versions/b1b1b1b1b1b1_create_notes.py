"""create beta notes

Revision ID: b1b1b1b1b1b1
Revises:
Depends on: a1a1a1a1a1a1
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b1b1b1b1b1b1"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("beta",)
depends_on: str | Sequence[str] | None = "a1a1a1a1a1a1"


def upgrade() -> None:
    """Create fx_beta_notes."""
    op.create_table(
        "fx_beta_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["fx_alpha_items.id"],
            name=op.f("fk_fx_beta_notes_item_id_fx_alpha_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fx_beta_notes")),
    )
    op.create_index(op.f("ix_fx_beta_notes_deleted_at"), "fx_beta_notes", ["deleted_at"])
    op.create_index(op.f("ix_fx_beta_notes_tenant_id"), "fx_beta_notes", ["tenant_id"])


def downgrade() -> None:
    """Drop fx_beta_notes."""
    op.drop_index(op.f("ix_fx_beta_notes_tenant_id"), table_name="fx_beta_notes")
    op.drop_index(op.f("ix_fx_beta_notes_deleted_at"), table_name="fx_beta_notes")
    op.drop_table("fx_beta_notes")
