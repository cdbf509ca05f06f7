"""The declarative base every package's models share, and column helpers.

One :class:`Base` (hence one ``MetaData``) across all packages lets a model in one
package hold a foreign key to a table of another, and gives every constraint a
deterministic name from :data:`NAMING_CONVENTION`, so Alembic can drop or alter it
later on every database.

Datetimes are always timezone-aware UTC: a ``Mapped[datetime]`` column uses
:class:`AwareDateTime`, which also restores the zone SQLite does not store.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import DateTime, Dialect, MetaData, TypeDecorator
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, mapped_column

__all__ = [
    "NAMING_CONVENTION",
    "UUIDPK",
    "AwareDateTime",
    "Base",
    "utcnow",
    "uuid7",
]

#: Constraint and index names (the Alembic recipe, with every column of a multi-column
#: index or unique constraint, so ``(tenant_id, email)`` and ``(tenant_id, slug)`` differ).
#: Names longer than the database allows are shortened by SQLAlchemy with a stable hash.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7).

    Primary keys made from it are inserted in index order, which keeps B-tree pages
    dense on Postgres, unlike random ``uuid4`` keys. Order within one millisecond is
    random.
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)


class AwareDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only accepts and always returns aware UTC values.

    A naive datetime is refused on the way in (its zone is unknowable); on SQLite,
    which stores no zone, values are written in UTC and read back as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware value to UTC; refuse a naive one."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            msg = f"naive datetime {value!r} given to an AwareDateTime column; use utcnow()"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,
    ) -> datetime | None:
        """Return the value as aware UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def python_type(self) -> type[datetime]:
        """``datetime``."""
        return datetime


#: ``id: Mapped[UUIDPK]`` — a UUID primary key filled with :func:`uuid7` on insert.
UUIDPK = Annotated[uuid.UUID, mapped_column(primary_key=True, default=uuid7)]


class Base(AsyncAttrs, DeclarativeBase):
    """The declarative base shared by every package's models.

    ``Mapped[datetime]`` maps to :class:`AwareDateTime`. ``AsyncAttrs`` adds
    ``await obj.awaitable_attrs.relationship`` for lazy loads under asyncio.
    """

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: AwareDateTime()}
