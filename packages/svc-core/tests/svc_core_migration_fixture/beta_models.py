"""Models of the ``beta`` branch: every svc-core mixin, and a key into ``alpha``."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from svc_core.sql import SoftDeleteMixin, TenantMixin, TimestampMixin, VersionMixin
from svc_core_migration_fixture.base import FixtureBase


class Note(TenantMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, FixtureBase):
    """Revision b1."""

    __tablename__ = "fx_beta_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("fx_alpha_items.id"))
    body: Mapped[str] = mapped_column(Text)
