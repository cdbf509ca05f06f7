"""Models of the ``alpha`` branch (must match its two revisions exactly)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from svc_core_migration_fixture.base import FixtureBase


class Item(FixtureBase):
    """Revision a1."""

    __tablename__ = "fx_alpha_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class Tag(FixtureBase):
    """Revision a2."""

    __tablename__ = "fx_alpha_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("fx_alpha_items.id"), index=True)
    label: Mapped[str] = mapped_column(String(30))
