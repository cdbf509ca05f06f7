"""The fixture's declarative base: same naming convention, separate metadata."""

from __future__ import annotations

from sqlalchemy import MetaData

from svc_core.sql import NAMING_CONVENTION, Base


class FixtureBase(Base):
    """Abstract base whose tables go to :data:`metadata`, not ``Base.metadata``."""

    __abstract__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
