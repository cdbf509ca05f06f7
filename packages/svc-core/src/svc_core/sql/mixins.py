"""Column mixins for models: timestamps, soft delete, optimistic locking, tenant.

Mix them into a :class:`~svc_core.sql.Base` subclass::

    class Invoice(TenantMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
        __tablename__ = "invoices"
        id: Mapped[UUIDPK]
        total: Mapped[int]

They work on SQLite and Postgres alike. They only declare columns and behaviour on
the instance; *filtering* is left to the layers that own the policy: svc-data hides
soft-deleted rows from every default query and svc-tenancy scopes every query to the
current tenant. Code that runs without those layers uses :meth:`SoftDeleteMixin.not_deleted`.
"""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - SQLAlchemy resolves Mapped[datetime] at runtime
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, func, text
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from svc_core.sql.base import AwareDateTime, utcnow

__all__ = ["SoftDeleteMixin", "TenantMixin", "TimestampMixin", "VersionMixin"]


class TimestampMixin:
    """``created_at`` and ``updated_at``, aware UTC.

    Both are set in Python on insert (so they are readable without a refresh) and by
    the database for rows inserted outside the ORM; ``updated_at`` moves on every ORM
    UPDATE of the row.
    """

    created_at: Mapped[datetime] = mapped_column(
        AwareDateTime(), default=utcnow, server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        AwareDateTime(),
        default=utcnow,
        onupdate=utcnow,
        server_default=func.now(),
        nullable=False,
    )


class SoftDeleteMixin:
    """``deleted_at``: a row is deleted when it is set, and can be restored.

    ``Model.is_deleted`` works on instances and in queries. svc-data adds the automatic
    filter that hides deleted rows (joins included); without it, add
    :meth:`not_deleted` to your ``where`` clauses.
    """

    deleted_at: Mapped[datetime | None] = mapped_column(
        AwareDateTime(), default=None, nullable=True, index=True
    )

    @hybrid_property
    def is_deleted(self) -> bool:
        """True once :meth:`soft_delete` was called (and :meth:`restore` was not)."""
        return self.deleted_at is not None

    @is_deleted.inplace.expression
    @classmethod
    def _is_deleted_expression(cls) -> ColumnElement[bool]:
        return cls.deleted_at.is_not(None)

    def soft_delete(self, at: datetime | None = None) -> None:
        """Mark the row deleted (at ``at`` or now); flushed with the session."""
        self.deleted_at = at if at is not None else utcnow()

    def restore(self) -> None:
        """Undo :meth:`soft_delete`."""
        self.deleted_at = None

    @classmethod
    def not_deleted(cls) -> ColumnElement[bool]:
        """Criteria selecting rows that are not soft-deleted: ``where(M.not_deleted())``."""
        return cls.deleted_at.is_(None)


class VersionMixin:
    """An integer ``version`` used for optimistic locking.

    SQLAlchemy adds ``WHERE version = <loaded>`` to every UPDATE and DELETE of the
    row and bumps the number; when another writer got there first, the flush raises
    :class:`sqlalchemy.orm.exc.StaleDataError`. svc-idempotency maps it to ETags and
    ``If-Match``. A model that needs its own ``__mapper_args__`` must merge
    ``VersionMixin.__mapper_args__`` into them.
    """

    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 - declared_attr gets the class
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class TenantMixin:
    """``tenant_id``: the owning tenant, indexed and required.

    svc-tenancy fills it from the request's tenant and filters every query by it;
    this mixin only guarantees that no row can exist without one.
    """

    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
